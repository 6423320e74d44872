// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEndpoint(t *testing.T) {
	cwd, _ := filepath.Abs(".")
	for in, want := range map[string]Endpoint{
		// The form the warnings recommend (DOCKER_HOST's) was taken for
		// a file named "unix:".
		"unix:///var/run/docker.sock":  {"unix", "/var/run/docker.sock"},
		"/var/run/docker.sock":         {"unix", "/var/run/docker.sock"},
		" /run/user/1000/docker.sock ": {"unix", "/run/user/1000/docker.sock"},
		"docker.sock":                  {"unix", filepath.Join(cwd, "docker.sock")},
		"tcp://127.0.0.1:2375":         {"tcp", "127.0.0.1:2375"},
		"tcp://[::1]:2375/":            {"tcp", "[::1]:2375"},
	} {
		got, err := ParseEndpoint(in)
		if err != nil || got != want {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, says := range map[string]string{
		"":                           "unix:///path/to/docker.sock, a path, or tcp://host:port",
		"unix://var/run/docker.sock": "unix:///var/run/docker.sock",
		"tcp://host":                 "tcp://host:port",
		"tcp://host:2375/v1.43":      "nothing after it",
		"http://host:2375":           "http:// is not supported",
		"ssh://me@host":              "ssh:// is not supported",
		"localhost:2375":             "write tcp://localhost:2375",
	} {
		if got, err := ParseEndpoint(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want an error saying %q", in, got, err, says)
		}
	}
}

// fakeEngine answers ContainerInspect for one running container, as the
// Docker Engine API does.
func fakeEngine(t *testing.T, l net.Listener, id string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", "1.43")
		switch {
		case r.URL.Path == "/_ping":
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/containers/"+id+"/json"):
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"Id": id, "Name": "/web", "Image": "sha256:" + strings.Repeat("b", 64),
				"State":  map[string]any{"Running": true},
				"Config": map[string]any{"Image": "nginx:1.25"},
			})
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
}

// The resolver reaches the engine at every address form ParseEndpoint takes.
func TestDockerSocketForms(t *testing.T) {
	id := testID(7)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fakeEngine(t, ul, id)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakeEngine(t, tl, id)
	for _, c := range []struct{ socket, named string }{
		{"unix://" + sock, sock},
		{sock, sock},
		{"tcp://" + tl.Addr().String(), "tcp://" + tl.Addr().String()},
	} {
		r, w := newTestResolver(t, Config{DockerSocket: c.socket})
		if got := r.DockerSocket(); got != c.named {
			t.Errorf("DockerSocket %q: resolver uses %q, want %q", c.socket, got, c.named)
		}
		info := waitStatus(t, r, Docker, id, 10*time.Second)
		if info.Status != Ready || info.Name != "web" || info.Image != "nginx:1.25" {
			t.Errorf("DockerSocket %q: %+v, want the container web from the engine (warnings %v)", c.socket, info, w.list())
		}
	}
}

// An engine that is not there, on TCP: the warning names the address.
func TestTCPConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, w := newTestResolver(t, Config{DockerSocket: "tcp://" + addr})
	if info := waitStatus(t, r, Docker, testID(8), 10*time.Second); info.Status != Failed {
		t.Fatalf("%+v with nothing listening", info)
	}
	ws := w.list()
	if len(ws) != 1 || ws[0].Socket != "tcp://"+addr || !strings.Contains(ws[0].Cause, "connection refused: nothing listens on tcp://"+addr) {
		t.Errorf("warnings %v", ws)
	}
}
