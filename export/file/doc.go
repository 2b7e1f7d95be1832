// Package file owns what a delivered file is: the registry of formats (JSON, CSV) and their
// encoders, and the one builder of file names, used alike by planning, re-sends, manual runs
// and test sends.
package file
