// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
)

// privilegedPod creates a pod with a hostPath mount, a privileged init
// container and an image from a registry with a port.
const privilegedPod = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
  "auditID": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a06", "stage": "ResponseComplete",
  "requestURI": "/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-run", "verb": "create",
  "user": {"username": "dev", "groups": ["devs", "system:authenticated"]},
  "sourceIPs": ["10.1.2.3"], "userAgent": "kubectl/v1.30.2",
  "objectRef": {"resource": "pods", "namespace": "kube-system", "name": "debug", "apiVersion": "v1"},
  "responseStatus": {"metadata": {}, "code": 201},
  "requestObject": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "debug", "namespace": "kube-system"},
    "spec": {"hostPID": true, "securityContext": {"runAsUser": 1000},
      "volumes": [{"name": "root", "hostPath": {"path": "/", "type": ""}}, {"name": "cfg", "configMap": {"name": "x"}}],
      "initContainers": [{"name": "init", "image": "busybox", "securityContext": {"privileged": true}}],
      "containers": [{"name": "c", "image": "registry.local:5000/tools/shell:1.2@sha256:abc",
        "ports": [{"containerPort": 80, "hostPort": 8080}], "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}},
        {"name": "d", "image": "nginx"}]}},
  "responseObject": {"kind": "Pod", "metadata": {"name": "debug"}},
  "requestReceivedTimestamp": "2026-12-06T11:07:00.000001Z", "stageTimestamp": "2026-12-06T11:07:00.020000Z",
  "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
}`

// render compiles one k8s_audit rule whose output prints the given fields,
// runs it on event and returns the output.
func render(t *testing.T, cond, out, event string) (string, bool) {
	t.Helper()
	y := "- rule: r\n  desc: d\n  condition: " + cond + "\n  output: '" + out + "'\n  priority: WARNING\n  source: k8s_audit\n"
	set, err := rules.Load("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	e, err := ParseEvent([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	n := NewDetector(p, "h", func(a *output.Alert) { got = a.Output }).Eval(e)
	return got, n > 0
}

func TestFields(t *testing.T) {
	for _, c := range []struct{ cond, out, want string }{
		{"ka.verb=create", "%ka.user.name %ka.user.groups %ka.target.namespace/%ka.target.name %ka.resp.name %ka.response.code %ka.sourceips",
			"dev (devs,system:authenticated) kube-system/debug debug 201 (10.1.2.3)"},
		{"ka.req.pod.containers.image.repository intersects (registry.local:5000/tools/shell)", "%ka.req.pod.containers.image.repository %ka.req.container.image.repository",
			"(registry.local:5000/tools/shell,nginx) registry.local:5000/tools/shell"},
		{"ka.req.pod.initContainers.privileged intersects (true) and not ka.req.pod.containers.privileged exists",
			"%ka.req.pod.initContainers.image %ka.req.container.privileged", "(busybox) false"},
		{"ka.req.pod.host_pid=true", "%ka.req.pod.volumes.hostpath %ka.req.pod.volumes.volume_type %ka.req.volume.hostpath[/*]",
			"(/) (hostPath,configMap) true"},
		{"ka.req.pod.containers.add_capabilities intersects (SYS_ADMIN)", "%ka.req.pod.containers.host_port %ka.req.pod.containers.eff_run_as_user",
			"(8080) (0,1000)"},
		{"jevt.value[/requestObject/spec/containers/1/name]=d", "%jevt.value[/objectRef] %jevt.rawtime",
			`{"apiVersion":"v1","name":"debug","namespace":"kube-system","resource":"pods"} 1796555220020000000`},
		{"ka.uri.param[fieldManager]=kubectl-run", "%ka.uri.param[fieldManager] %ka.impuser.name", "kubectl-run <NA>"},
	} {
		got, ok := render(t, c.cond, c.out, privilegedPod)
		if !ok || got != c.want {
			t.Errorf("%s\n  output %q (matched %v)\n  want   %q", c.cond, got, ok, c.want)
		}
	}
	if _, ok := render(t, "ka.impuser.name exists or ka.req.pod.containers.image in (nginx)", "x", privilegedPod); ok {
		t.Error("a missing field exists, or `in` on a list held when one element is not in the set")
	}
}

// TestSourcesStayApart: one rule set holds both sources; each rule names
// only its source's fields, and each event runs only its source's rules.
func TestSourcesStayApart(t *testing.T) {
	const y = `
- rule: shell
  desc: d
  condition: evt.type = execve and proc.name = bash
  output: "shell %proc.name"
  priority: WARNING
- rule: exec
  desc: d
  condition: ka.target.subresource = exec
  output: "exec %ka.target.name"
  priority: WARNING
  source: k8s_audit
- rule: mixed audit
  desc: d
  condition: ka.verb = create and proc.name = bash
  output: "x"
  priority: WARNING
  source: k8s_audit
- rule: mixed syscall
  desc: d
  condition: evt.type = execve
  output: "%ka.verb"
  priority: WARNING
`
	set, err := rules.Load("mix.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, err := eval.Compile(set, eval.Options{AllMatches: true})
	errs := err.Error()
	for _, want := range []string{"mix.yaml:15:35", "unknown field 'proc.name' for source 'k8s_audit'", "'syscall' source",
		"output of rule 'mixed syscall'", "unknown field 'ka.verb' for source 'syscall'"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	if p.Rule("shell") == nil || p.Rule("exec") == nil || p.Rule("mixed audit") != nil {
		t.Fatalf("compiled rules: %v", p.Rules())
	}
	if got := p.Syscalls(); len(got) == 0 || len(got) > 3 {
		t.Errorf("syscalls %v: the audit rule must not widen them", got)
	}
	e, err := ParseEvent([]byte(podExec))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	NewDetector(p, "h", func(a *output.Alert) { got = append(got, a.Rule+": "+a.Output) }).Eval(e)
	if len(got) != 1 || got[0] != "exec: exec nginx" {
		t.Errorf("audit event alerts %q, want only the exec rule", got)
	}
}
