package file

// randomPartLen is the length of the random part of a file name.
const randomPartLen = 7

// RandomPart returns a new random part of a file name: 7 characters drawn uniformly from
// [0-9a-z], by the same generator Name uses. A run draws it once, when it is created, and
// renders its file name with it ({rand} of a Template).
func RandomPart() string {
	return string(appendRandom(make([]byte, 0, randomPartLen), randomPartLen))
}
