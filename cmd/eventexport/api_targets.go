package main

import (
	"net/http"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export"
)

func (a *api) listTargets(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.cfg.Store.Targets(r.Context())
	if err != nil {
		return err
	}
	views := make([]targetView, 0, len(ts))
	for _, t := range ts {
		views = append(views, viewTarget(t))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

func (a *api) showTarget(w http.ResponseWriter, r *http.Request) error {
	t, err := a.target(r)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewTarget(t))
	return nil
}

// target reads the target named in the path.
func (a *api) target(r *http.Request) (export.Target, error) {
	id := r.PathValue("id")
	t, err := a.cfg.Store.Target(r.Context(), id)
	if err != nil && errorIsNotFound(err) {
		return t, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no target with id " + quote(id)}
	}
	return t, err
}

func (a *api) addTarget(w http.ResponseWriter, r *http.Request) error {
	var spec targetSpec
	if err := decodeBody(w, r, &spec, false); err != nil {
		return err
	}
	if strings.TrimSpace(spec.Name) == "" {
		return invalid("name", "is required: destinations refer to targets by id, people by name")
	}
	t, err := spec.build()
	if err != nil {
		return err
	}
	if err := a.needSealer(t.Password != "" || len(t.PrivateKey) > 0); err != nil {
		return err
	}
	t, err = a.cfg.Store.AddTarget(r.Context(), t)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/targets/"+t.ID)
	writeJSONStatus(w, http.StatusCreated, viewTarget(t))
	return nil
}

// needSealer refuses to store secrets without a usable key: the service's configuration
// is at fault, not the request.
func (a *api) needSealer(secrets bool) error {
	if secrets && a.cfg.Config.Sealer == nil {
		return &configError{a.cfg.Config.SealerErr}
	}
	return nil
}

// targetPatch is a PATCH of a target: the fields given change, the others stay. An empty
// password or private_key removes it; an empty host_key unpins the key.
type targetPatch struct {
	Name         *string `json:"name"`
	URL          *string `json:"url"`
	Host         *string `json:"host"`
	Port         *int    `json:"port"`
	User         *string `json:"user"`
	Password     *string `json:"password"`
	PrivateKey   *string `json:"private_key"`
	Passphrase   *string `json:"private_key_passphrase"`
	HostKey      *string `json:"host_key"`
	BaseDir      *string `json:"base_dir"`
	LegacyCrypto *bool   `json:"legacy_crypto"`
}

// update validates the patch, with the rules of "targets update", into a TargetUpdate of t.
func (p targetPatch) update(t export.Target) (export.TargetUpdate, error) {
	var u export.TargetUpdate
	if p == (targetPatch{}) {
		return u, invalid("name", "nothing to update: give at least one field")
	}
	if p.URL != nil {
		if p.Host != nil || p.Port != nil || p.User != nil || p.BaseDir != nil {
			return u, invalid("url", "give either a URL or host, port, user and base directory, not both")
		}
		parsed, err := delivery.ParseURL(*p.URL)
		if err != nil {
			return u, &invalidField{Field: "url", Err: err}
		}
		u.Host, u.Port, u.User, u.BaseDir = &parsed.Host, &parsed.Port, &parsed.User, &parsed.Dir
		if parsed.Password != "" {
			if p.Password != nil {
				return u, invalid("password", "the URL holds a password already")
			}
			u.Password = &parsed.Password
		}
	}
	if p.Name != nil {
		if strings.TrimSpace(*p.Name) == "" {
			return u, invalid("name", "must not be empty")
		}
		name := strings.TrimSpace(*p.Name)
		u.Name = &name
	}
	if p.Host != nil {
		host := strings.TrimSpace(*p.Host)
		if host == "" {
			return u, invalid("host", "must not be empty")
		}
		u.Host = &host
	}
	if p.Port != nil {
		if *p.Port < 1 || *p.Port > 65535 {
			return u, invalid("port", "%d is not a TCP port", *p.Port)
		}
		u.Port = p.Port
	}
	if p.User != nil {
		if *p.User == "" {
			return u, invalid("user", "must not be empty")
		}
		u.User = p.User
	}
	if p.BaseDir != nil {
		u.BaseDir = p.BaseDir
	}
	if p.Password != nil {
		u.Password = p.Password
	}
	if p.PrivateKey != nil {
		key := []byte(*p.PrivateKey)
		var pass []byte
		if p.Passphrase != nil {
			pass = []byte(*p.Passphrase)
		}
		if len(key) > 0 {
			if err := delivery.ValidatePrivateKey(key, pass); err != nil {
				return u, &invalidField{Field: "private_key", Err: err}
			}
		} else if len(pass) > 0 {
			return u, invalid("private_key_passphrase", "given without a private key")
		}
		u.PrivateKey, u.Passphrase = &key, &pass
	} else if p.Passphrase != nil {
		return u, invalid("private_key_passphrase", "give it with the private_key it unlocks")
	}
	if p.HostKey != nil {
		pin := strings.TrimSpace(*p.HostKey)
		if pin != "" {
			if err := delivery.ValidateHostKeyPin(pin); err != nil {
				return u, &invalidField{Field: "host_key", Err: err}
			}
		}
		u.HostKey = &pin
	}
	if p.LegacyCrypto != nil {
		u.LegacyCrypto = p.LegacyCrypto
	}
	// The server must still be one the service can log in to.
	hasPassword, hasKey := t.HasPassword, t.HasKey
	if u.Password != nil {
		hasPassword = *u.Password != ""
	}
	if u.PrivateKey != nil {
		hasKey = len(*u.PrivateKey) > 0
	}
	if !hasPassword && !hasKey {
		return u, invalid("password", "no password and no private key would be left: the server could not be logged in to")
	}
	return u, nil
}

func (a *api) updateTarget(w http.ResponseWriter, r *http.Request) error {
	var p targetPatch
	if err := decodeBody(w, r, &p, false); err != nil {
		return err
	}
	t, err := a.target(r)
	if err != nil {
		return err
	}
	u, err := p.update(t)
	if err != nil {
		return err
	}
	secrets := (u.Password != nil && *u.Password != "") || (u.PrivateKey != nil && len(*u.PrivateKey) > 0)
	if err := a.needSealer(secrets); err != nil {
		return err
	}
	t, err = a.cfg.Store.UpdateTarget(r.Context(), t.ID, u)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewTarget(t))
	return nil
}

func (a *api) removeTarget(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := a.cfg.Store.RemoveTarget(r.Context(), id)
	if err != nil && errorIsNotFound(err) {
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no target with id " + quote(id)}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
