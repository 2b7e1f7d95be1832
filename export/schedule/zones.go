package schedule

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// zones caches the zones periods name, loaded once per name for the process: planning reads
// the schedules of many destinations per pass. A name that is not a zone is remembered too.
var zones struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]zoneEntry]
}

type zoneEntry struct {
	loc *time.Location
	err error
}

// loadZone returns the zone name names, def for "", through the cache.
func loadZone(name string, def *time.Location) (*time.Location, error) {
	if def == nil {
		def = time.UTC
	}
	if name == "" || strings.TrimSpace(name) == "" {
		return def, nil
	}
	if m := zones.m.Load(); m != nil {
		if e, ok := (*m)[name]; ok {
			return e.loc, e.err
		}
	}
	loc, err := LoadZone(name, def)
	zones.mu.Lock()
	defer zones.mu.Unlock()
	old := zones.m.Load()
	m := make(map[string]zoneEntry, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = zoneEntry{loc: loc, err: err}
	zones.m.Store(&m)
	return loc, err
}

// Location returns the zone of period p: the schedule's default for "" (UTC without one). A
// zone that cannot be loaded, which WindowAt reports, reads as the default.
func (s Schedule) Location(p Period) *time.Location {
	loc, err := loadZone(p.Zone, s.Default)
	if err != nil {
		return s.defaultZone()
	}
	return loc
}

func (s Schedule) defaultZone() *time.Location {
	if s.Default == nil {
		return time.UTC
	}
	return s.Default
}

// Check reports the first period whose cadence or zone cannot be read (stored by a newer
// version, or a zone the system lost): WindowAt reports it too, After and Due read such a
// period as a day in the default zone.
func (s Schedule) Check() error {
	for _, p := range s.periods() {
		if _, _, err := s.resolve(p); err != nil {
			return err
		}
	}
	return nil
}
