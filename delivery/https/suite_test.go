package https_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/eventexport/eventexport/delivery/deliverytest"
	"github.com/eventexport/eventexport/delivery/https"
)

// The suite every kind of target passes, over a real HTTPS server that stores each file it
// is given by path and name, and refuses requests without the token.
func TestTransportSuite(t *testing.T) {
	var mu sync.Mutex
	files := map[string][]byte{} // by "path/name"
	rc := newReceiver(t, true)
	rc.answer = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		files[strings.Trim(r.URL.Path, "/")+"/"+r.Header.Get(https.HeaderFileName)] = rc.last(t).body
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}
	deliverytest.Run(t, deliverytest.Peer{
		Transport: https.Transport{},
		Input: func(t *testing.T, dir, addr string) map[string]any {
			url := rc.URL
			if addr != "" {
				url = "https://" + addr
			}
			return map[string]any{"url": url + "/" + dir, "header": "Authorization: " + token, "tls_ca": rc.caPEM()}
		},
		Untrusted: []string{"tls_ca"},
		BadLogin:  map[string]any{"header": "Authorization: Bearer expired"},
		OtherPin:  "SHA256:" + strings.Repeat("AB", 32),
		Secrets:   []string{token, "tok-3f9a1c7e5b"},
		Received: func(t *testing.T, dir, name string) ([]byte, bool) {
			mu.Lock()
			defer mu.Unlock()
			b, ok := files[dir+"/"+name]
			return b, ok
		},
		Dirs: func(t *testing.T) string { return strings.ReplaceAll(t.Name(), "/", "_") },
	})
}
