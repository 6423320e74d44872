// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultHTTPTimeout bounds one POST when HTTPConfig.Timeout is 0.
const DefaultHTTPTimeout = 10 * time.Second

// HTTPConfig describes an HTTP output.
type HTTPConfig struct {
	// URL receives one POST per alert: http or https.
	URL string
	// Timeout bounds each request, connection included.
	Timeout time.Duration
	// Header is added to every request (authentication, say).
	Header http.Header
	// Version goes into the User-Agent, "vigil/<version>".
	Version string
	// Client sends the requests; nil means one of our own. Set it for
	// TLS client certificates or a private CA.
	Client *http.Client
}

// HTTPSink POSTs each alert as Falco's JSON object, which is what
// Falcosidekick and other Falco webhooks read whatever the text format of
// the other outputs is.
type HTTPSink struct {
	url     string
	timeout time.Duration
	header  http.Header
	client  *http.Client
	enc     Encoder
	lastLen int
}

// NewHTTPSink checks the URL and prepares the client.
func NewHTTPSink(c HTTPConfig) (*HTTPSink, error) {
	if err := checkHTTPURL(c.URL); err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHTTPTimeout
	}
	version := c.Version
	if version == "" {
		version = "dev"
	}
	h := http.Header{}
	for k, vs := range c.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "vigil/"+version)
	client := c.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &HTTPSink{url: c.URL, timeout: c.Timeout, header: h, client: client, enc: Encoder{Format: JSON}}, nil
}

func checkHTTPURL(raw string) error {
	if problem, fix := httpURLProblem(raw); problem != "" {
		return fmt.Errorf("URL %q: %s: %s", raw, problem, fix)
	}
	return nil
}

// httpURLProblem says what is wrong with an HTTP output's URL, and the fix.
func httpURLProblem(raw string) (problem, fix string) {
	u, err := url.Parse(raw)
	if err != nil {
		return err.Error(), "write it as http://host:port/path"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("scheme %q is not http or https", u.Scheme), "write it as http://host:port/path or https://host:port/path"
	}
	if u.Host == "" {
		return "no host", "write it as " + u.Scheme + "://host:port/path"
	}
	return "", ""
}

// Name implements Sink.
func (s *HTTPSink) Name() string { return "http " + s.url }

// maxErrorBody is how much of a refusal's body goes into the error.
const maxErrorBody = 256

// Write implements Sink. Anything but a 2xx answer is an error.
func (s *HTTPSink) Write(ctx context.Context, a *Alert) error {
	// A fresh body each time: the transport may still read the previous
	// one after Do returned (a server that answers before reading it all).
	body := s.enc.AppendJSON(make([]byte, 0, s.lastLen+64), a)
	s.lastLen = len(body)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", s.url, err)
	}
	for k, vs := range s.header {
		req.Header[k] = vs
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST alert: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// Read the rest so the connection can carry the next alert.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	detail := strings.TrimSpace(string(msg))
	if detail != "" {
		detail = ": " + detail
	}
	return fmt.Errorf("POST %s: server answered %s%s", s.url, resp.Status, detail)
}

// Close implements Sink.
func (s *HTTPSink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
