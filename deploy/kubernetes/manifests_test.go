// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// No cluster runs here: the manifests are decoded as the API server would
// decode them with strict field validation, and what the deployment relies
// on is asserted on the typed objects.

// kinds are the API types the manifests may hold.
var kinds = map[string]func() any{
	"v1/Namespace":      func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount": func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":      func() any { return &corev1.ConfigMap{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode decodes every object of a YAML stream strictly: unknown fields,
// fields in the wrong case and duplicate fields are errors, as with the API
// server's strict field validation.
func decode(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range docSeparator.Split(string(data), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if string(j) == "null" { // only comments
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(j, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: %s %q is not a kind this test knows: add its type to kinds", i+1, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		strict, err := sigsjson.UnmarshalStrict(j, obj)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, tm.Kind, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("document %d (%s): %v", i+1, tm.Kind, strict)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// manifests are the objects of every YAML file under this directory.
type manifests struct {
	daemonSets map[string]*appsv1.DaemonSet // by file name
	configMaps map[string]*corev1.ConfigMap
	accounts   map[string]*corev1.ServiceAccount
	roles      map[string]*rbacv1.ClusterRole
	bindings   []*rbacv1.ClusterRoleBinding
	namespaces []string
}

func load(t *testing.T) manifests {
	t.Helper()
	m := manifests{
		daemonSets: map[string]*appsv1.DaemonSet{}, configMaps: map[string]*corev1.ConfigMap{},
		accounts: map[string]*corev1.ServiceAccount{}, roles: map[string]*rbacv1.ClusterRole{},
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "SPDX-License-Identifier: Apache-2.0") {
			t.Errorf("%s: no SPDX-License-Identifier header", path)
		}
		objs, err := decode(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *appsv1.DaemonSet:
				m.daemonSets[path] = o
			case *corev1.ConfigMap:
				m.configMaps[o.Namespace+"/"+o.Name] = o
			case *corev1.ServiceAccount:
				m.accounts[o.Namespace+"/"+o.Name] = o
			case *rbacv1.ClusterRole:
				m.roles[o.Name] = o
			case *rbacv1.ClusterRoleBinding:
				m.bindings = append(m.bindings, o)
			case *corev1.Namespace:
				m.namespaces = append(m.namespaces, o.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no manifests found")
	}
	return m
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.daemonSets) != 2 || m.daemonSets[kmodFile] == nil || m.daemonSets[probeFile] == nil {
		t.Fatalf("DaemonSets in %v; want %s and %s", keys(m.daemonSets), kmodFile, probeFile)
	}
	// The decoder must be strict, or the assertions above prove little.
	data, err := os.ReadFile(kmodFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ old, new string }{
		{"hostPID: true", "hostPid: true"},                             // a field in the wrong case
		{"hostPID: true", "hostPID: true\n      hostNamespaces: true"}, // an unknown field
		{"hostPID: true", "hostPID: true\n      hostPID: false"},       // a duplicate field
	} {
		if _, err := decode([]byte(strings.Replace(string(data), bad.old, bad.new, 1))); err == nil {
			t.Errorf("decode accepted %s with %q in place of %q", kmodFile, bad.new, bad.old)
		}
	}
}

const (
	kmodFile  = "daemonset-kmod.yaml"
	probeFile = "daemonset-probe.yaml"
)

// hostMount is a host directory the init container needs, and whether it
// must be read-only.
type hostMount struct {
	path     string // in the container: /host + the host's path
	readOnly bool
}

// The mounts of Falco's driver loader, plus the loader's lock and state.
var initMounts = []hostMount{
	{"/host/proc", true}, {"/host/boot", true}, {"/host/lib/modules", true},
	{"/host/usr", true}, {"/host/etc", true}, {"/host/run/vigil", false},
}

// The detector needs processes and user names.
var mainMounts = []hostMount{{"/host/proc", true}, {"/host/etc", true}}

// writable are the only host paths any container may write: the loader's
// lock and state, and the module cache.
var writable = []string{"/run/vigil", "/var/cache/vigil/driver"}

var probeCaps = []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"}

func TestDaemonSets(t *testing.T) {
	m := load(t)
	entrypoint := imageEntrypoint(t)
	for file, wantDriver := range map[string]string{kmodFile: "auto", probeFile: "bpf"} {
		t.Run(file, func(t *testing.T) {
			ds := m.daemonSets[file]
			if ds == nil {
				t.Fatalf("no DaemonSet in %s", file)
			}
			// One name, so that applying one variant replaces the other.
			if ds.Namespace != "vigil" || ds.Name != "vigil" || !slices.Contains(m.namespaces, ds.Namespace) {
				t.Errorf("DaemonSet %s/%s; want vigil/vigil, in a namespace the manifests create (%v)", ds.Namespace, ds.Name, m.namespaces)
			}
			for k, v := range ds.Spec.Selector.MatchLabels {
				if ds.Spec.Template.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the pod template's labels %v", k, v, ds.Spec.Template.Labels)
				}
			}
			pod := ds.Spec.Template.Spec
			if !pod.HostPID || pod.HostNetwork {
				t.Errorf("hostPID %v, hostNetwork %v; want the host's pid namespace (the probe drops vigil's own events by its host pid) and the pod's network", pod.HostPID, pod.HostNetwork)
			}
			checkAccount(t, m, ds)
			if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 {
				t.Fatalf("%d init containers and %d containers; want one of each", len(pod.InitContainers), len(pod.Containers))
			}
			initC, mainC := pod.InitContainers[0], pod.Containers[0]

			checkCommand(t, initC, entrypoint, "driver", "install")
			checkCommand(t, mainC, entrypoint, "run")
			for _, c := range []corev1.Container{initC, mainC} {
				if got := envValue(c, "VIGIL_DRIVER"); got != wantDriver {
					t.Errorf("container %s: VIGIL_DRIVER %q; want %q", c.Name, got, wantDriver)
				}
			}
			checkMounts(t, pod, initC, initMounts)
			checkMounts(t, pod, mainC, mainMounts)
			for _, c := range []corev1.Container{initC, mainC} {
				checkHostPaths(t, pod, c)
				if c.Image != initC.Image {
					t.Errorf("container %s runs %s, the init container %s: one image holds both", c.Name, c.Image, initC.Image)
				}
			}

			if file == kmodFile {
				checkRepos(t, m, ds, initC)
				for _, c := range []corev1.Container{initC, mainC} {
					if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
						t.Errorf("kmod variant: container %s is not privileged (loading a module needs it)", c.Name)
					}
				}
			} else {
				for _, c := range []corev1.Container{initC, mainC} {
					checkLeastPrivilege(t, c)
				}
			}
		})
	}
}

// imageEntrypoint is the binary the image's ENTRYPOINT runs, which the
// manifests name as their command.
func imageEntrypoint(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../image/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal(`../image/Dockerfile: no ENTRYPOINT ["..."]`)
	}
	return string(m[1])
}

// checkCommand asserts that c runs the image's vigil with sub (a command
// and subcommand) and --host-root /host.
func checkCommand(t *testing.T, c corev1.Container, entrypoint string, sub ...string) {
	t.Helper()
	argv := append(slices.Clone(c.Command), c.Args...)
	want := append([]string{entrypoint}, sub...)
	if len(argv) < len(want) || !slices.Equal(argv[:len(want)], want) {
		t.Errorf("container %s runs %q; want %q ...", c.Name, argv, want)
		return
	}
	if got := flagValue(argv, "--host-root"); got != "/host" {
		t.Errorf("container %s: --host-root %q in %q; want /host", c.Name, got, argv)
	}
}

func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func volume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// checkMounts asserts that c has each host mount, read-only or not as it
// must be, of the host directory of the same path.
func checkMounts(t *testing.T, pod corev1.PodSpec, c corev1.Container, want []hostMount) {
	t.Helper()
	for _, w := range want {
		vm := mountAt(c, w.path)
		if vm == nil {
			t.Errorf("container %s: no mount at %s", c.Name, w.path)
			continue
		}
		if vm.ReadOnly != w.readOnly {
			t.Errorf("container %s: %s has readOnly %v; want %v", c.Name, w.path, vm.ReadOnly, w.readOnly)
		}
		v := volume(pod, vm.Name)
		if v == nil || v.HostPath == nil || v.HostPath.Path != strings.TrimPrefix(w.path, "/host") {
			t.Errorf("container %s: %s is not the host's %s (volume %+v)", c.Name, w.path, strings.TrimPrefix(w.path, "/host"), v)
		}
	}
}

// checkHostPaths asserts of every host directory c mounts that it sits at
// its own path under /host (the --host-root vigil is given), and that it
// is read-only unless it is vigil's state or cache.
func checkHostPaths(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		v := volume(pod, vm.Name)
		if v == nil {
			t.Errorf("container %s: mount %s names no volume %q", c.Name, vm.MountPath, vm.Name)
			continue
		}
		if v.HostPath == nil {
			continue
		}
		if vm.MountPath != "/host"+v.HostPath.Path {
			t.Errorf("container %s: the host's %s is mounted at %s; want /host%s", c.Name, v.HostPath.Path, vm.MountPath, v.HostPath.Path)
		}
		if !vm.ReadOnly && !slices.Contains(writable, v.HostPath.Path) {
			t.Errorf("container %s: the host's %s is writable; only %v may be", c.Name, v.HostPath.Path, writable)
		}
		if slices.Contains(writable, v.HostPath.Path) && (v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate) {
			t.Errorf("volume %s: the host's %s must be DirectoryOrCreate (a fresh node has none)", v.Name, v.HostPath.Path)
		}
	}
}

// checkRepos asserts that the kmod variant's loader reads its mirrors and
// their trusted keys from keys of a ConfigMap of the manifests.
func checkRepos(t *testing.T, m manifests, ds *appsv1.DaemonSet, c corev1.Container) {
	t.Helper()
	for _, name := range []string{"VIGIL_DRIVER_REPOS", "VIGIL_TRUSTED_KEYS"} {
		e := envVar(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil {
			t.Errorf("init container: %s does not come from a ConfigMap: %+v", name, e)
			continue
		}
		ref := e.ValueFrom.ConfigMapKeyRef
		cm := m.configMaps[ds.Namespace+"/"+ref.Name]
		if cm == nil {
			t.Errorf("init container: %s: ConfigMap %s/%s is not in the manifests", name, ds.Namespace, ref.Name)
		} else if _, ok := cm.Data[ref.Key]; !ok {
			t.Errorf("init container: %s: ConfigMap %s has no key %q", name, ref.Name, ref.Key)
		}
	}
}

// checkLeastPrivilege asserts that c is not privileged and has exactly the
// probe's capabilities.
func checkLeastPrivilege(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Errorf("probe variant: container %s has no capabilities set", c.Name)
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("probe variant: container %s is privileged", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("probe variant: container %s allows privilege escalation", c.Name)
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("probe variant: container %s drops %v; want [ALL]", c.Name, sc.Capabilities.Drop)
	}
	got := slices.Clone(sc.Capabilities.Add)
	want := slices.Clone(probeCaps)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("probe variant: container %s adds %v; want exactly %v", c.Name, sc.Capabilities.Add, probeCaps)
	}
}

// checkAccount asserts that the pods' service account exists and may read
// pods.
func checkAccount(t *testing.T, m manifests, ds *appsv1.DaemonSet) {
	t.Helper()
	sa := ds.Spec.Template.Spec.ServiceAccountName
	if m.accounts[ds.Namespace+"/"+sa] == nil {
		t.Errorf("service account %s/%s is not in the manifests", ds.Namespace, sa)
		return
	}
	for _, b := range m.bindings {
		bound := slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ds.Namespace
		})
		role := m.roles[b.RoleRef.Name]
		if !bound || b.RoleRef.Kind != "ClusterRole" || role == nil {
			continue
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") &&
				slices.Contains(r.Verbs, "get") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
				return
			}
		}
	}
	t.Errorf("no ClusterRoleBinding gives %s/%s get, list and watch on pods", ds.Namespace, sa)
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
