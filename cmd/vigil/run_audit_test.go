// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

const (
	k8sAuditRules = "../../../shared/fixtures/k8s-audit/k8s_audit_rules.yaml"
	falcoRules    = "../../../shared/fixtures/falco-rules/falco_rules.yaml"
)

// clusterAdminBindingEvent is the API server's audit event for kubectl
// create clusterrolebinding mallory-admin --clusterrole=cluster-admin
// --user=mallory, as its webhook backend posts it (an EventList).
const clusterAdminBindingEvent = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{
  "kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
  "auditID":"9a0e2c1d-7b7e-4d59-8f0a-3a9b5c2d1e02","stage":"ResponseComplete",
  "requestURI":"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create","verb":"create",
  "user":{"username":"kubernetes-admin","groups":["system:masters","system:authenticated"]},
  "sourceIPs":["172.18.0.1"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
  "objectRef":{"resource":"clusterrolebindings","name":"mallory-admin","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"},
  "responseStatus":{"metadata":{},"code":201},
  "requestObject":{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"mallory-admin"},
    "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory"}],
    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"}},
  "requestReceivedTimestamp":"2026-12-06T11:03:00.000001Z","stageTimestamp":"2026-12-06T11:03:00.010000Z",
  "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}]}`

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func postAudit(t *testing.T, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunK8sAudit runs Falco's syscall and Kubernetes audit rules side by
// side: an audit event posted to the endpoint raises its upstream rule on
// the same outputs as the syscall rules.
func TestRunK8sAudit(t *testing.T) {
	addr := freeAddr(t)
	d := startRun(t, "--rules", falcoRules, "--rules", k8sAuditRules,
		"--k8s-audit-listen", addr, "--k8s-audit-token", "t0ken")
	url := "http://" + addr + "/k8s-audit"
	if code := postAudit(t, url, "wrong", clusterAdminBindingEvent); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := postAudit(t, url, "t0ken", `{"kind":`); code != http.StatusBadRequest {
		t.Errorf("malformed body: %d, want 400", code)
	}
	if code := postAudit(t, url, "t0ken", clusterAdminBindingEvent); code != http.StatusOK {
		t.Fatalf("POST the audit event: %d, want 200", code)
	}
	a := d.wait(t, "Attach to cluster-admin Role", nil)
	if !strings.Contains(a.Output, `"name":"mallory"`) || a.Priority != "Warning" {
		t.Errorf("alert %+v", a)
	}
	if !strings.Contains(d.logs(), "receiving Kubernetes audit events") {
		t.Errorf("no start-up log line for the audit endpoint:\n%s", d.logs())
	}
}

func TestK8sAuditFlagsNeedListen(t *testing.T) {
	r := run(t, "run", "--rules", k8sAuditRules, "--k8s-audit-token", "x")
	if r.code == 0 || !strings.Contains(r.stderr, "--k8s-audit-token: the audit endpoint is off") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestRulesValidateK8sAudit(t *testing.T) {
	r := run(t, "rules", "validate", k8sAuditRules)
	if r.code != 0 {
		t.Errorf("vigil rules validate %s: exit %d\n%s%s", k8sAuditRules, r.code, r.stdout, r.stderr)
	}
}
