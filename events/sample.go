package events

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// samplePeople are the learners of sample events.
var samplePeople = []struct{ first, last string }{
	{"Bob", "Johnson"}, {"Ana", "García"}, {"Chloé", "Dubois"}, {"Sam", "O'Neil"}, {"Jürgen", "Weiß"},
}

var sampleCourses = []string{
	"New Student Orientation", "Workplace Safety, Part 2", `Data Privacy "Essentials"`, "Leadership 101",
}

// Samples returns n courseComplete events of a company spread evenly over w, shaped as the
// documentation's sample payload. With test set they are marked as test data: source "test"
// and a title saying so, so a customer's automation can tell them from real completions.
func Samples(companyID string, w Window, n int, test bool) []Event {
	out := make([]Event, 0, n)
	step := w.Duration() / time.Duration(max(n, 1))
	for i := range n {
		at := w.Start.Add(time.Duration(i) * step)
		id := sampleUUID(companyID, at, i, "event")
		p := samplePeople[i%len(samplePeople)]
		source, title := "course_completed", sampleCourses[i%len(sampleCourses)]
		if test {
			source, title = "test", "TEST FILE (sample data): "+title
		}
		payload, _ := json.Marshal(map[string]any{
			"id":           id,
			"source":       source,
			"timestamp":    at.UTC().Format("2006-01-02T15:04:05.000Z"),
			"type":         "status_change",
			"user":         fmt.Sprintf("learner%d@example.com", i+1),
			"companyId":    companyID,
			"event":        "courseCompletion",
			"notifiableId": sampleUUID(title, time.Time{}, 0, "course"),
			"title":        title,
			"userDetail": map[string]any{
				"id":                 sampleUUID(companyID, time.Time{}, i, "user"),
				"firstName":          p.first,
				"lastName":           p.last,
				"externalCustomerId": fmt.Sprintf("%012d", 111222333444+i),
				"sfContactId":        nil,
				"sfAccountId":        nil,
				"client":             "00f928f4-8718-5043-9164-32398b165c60",
				"ref1":               fmt.Sprintf("%012d", 111222333444+i),
				"ref2":               "Department",
				"ref3":               "...",
			},
		})
		out = append(out, Event{ID: id, CompanyID: companyID, Type: CourseComplete.Name, OccurredAt: at, Payload: payload})
	}
	return out
}

// sampleUUID derives a stable version-5-shaped UUID from its inputs, so samples repeat.
func sampleUUID(seed string, at time.Time, i int, kind string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d|%s", seed, at.UnixNano(), i, kind))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
