// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"slices"
	"strings"
	"testing"
)

// Paths as runtimes made them on real machines (from bug reports, Falco's
// and other agents' test suites, podman inspect's CgroupPath); the few
// marked "composed" join two real layouts the way the kernel nests them.
var cgroupCases = []struct {
	name string
	path string
	rt   Runtime
	id   string
}{
	// Docker.
	{"docker cgroupfs", "/docker/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8",
		Docker, "7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"},
	{"docker cgroupfs v1 line", "12:name=systemd:/docker/31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2ee30",
		Docker, "31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2ee30"},
	{"docker systemd", "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope",
		Docker, "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"},
	{"docker systemd v1 line with newline", "1:name=systemd:/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope\n",
		Docker, "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"},
	{"docker.slice", "/docker.slice/docker-7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8.scope",
		Docker, "7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"},
	{"docker cgroup parent /", "/4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970",
		Docker, "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970"},
	{"docker --cgroup-parent (composed)", "/actions_job/4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970",
		Docker, "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970"},
	{"docker under kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod045b1e35_7f13_11e7_ac42_0050568ffca0.slice/docker-b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70.scope",
		Docker, "b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70"},
	{"systemd inside a docker container (composed)", "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope/init.scope",
		Docker, "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"},
	{"docker in docker: innermost", "/docker/a9a5ad238e59234193ee7ec3fcff5e735b3708ea1068826952255b69e3cfa413/docker/ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a",
		Docker, "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a"},
	{"trailing slash", "/docker/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8/",
		Docker, "7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"},

	// containerd (CRI).
	{"containerd cgroupfs", "/kubepods/besteffort/podac04f3f2-1f2c-11e9-b015-1ebee232acfa/605439acbd4fb18c145069289094b17f17e0cfa938f78012d4960bc797305f22",
		Containerd, "605439acbd4fb18c145069289094b17f17e0cfa938f78012d4960bc797305f22"},
	{"containerd cgroupfs v1", "/kubepods/besteffort/pod74ba62da-1a3d-11e7-bb11-080027cb0e22/cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c",
		Containerd, "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c"},
	{"containerd with a sub-cgroup", "/kubepods/besteffort/podf8a694f2-7c08-11e9-98da-000c29077430/c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903/kube-proxy",
		Containerd, "c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903"},
	{"containerd systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poddd1bf9d1_241d_47f5_8e25_12de83135812.slice/cri-containerd-f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830.scope",
		Containerd, "f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830"},
	{"containerd systemd notation", "/kubepods-burstable-podbd12dd3393227d950605a2444b13c27a.slice:cri-containerd:d52db56a9c80d536a91354c0951c061187ca46249e64865a12703003d8f42366",
		Containerd, "d52db56a9c80d536a91354c0951c061187ca46249e64865a12703003d8f42366"},
	{"kind node", "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-podf6ec7293_3d26_407f_8861_8593e009f36e.slice/cri-containerd-d5a41c7c2ea9956c57b5c72dc267b1dae12f3dfc5e36021dffd3dd8082f59571.scope",
		Containerd, "d5a41c7c2ea9956c57b5c72dc267b1dae12f3dfc5e36021dffd3dd8082f59571"},
	{"kind node seen from the host: innermost (composed)", "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-podf6ec7293_3d26_407f_8861_8593e009f36e.slice/cri-containerd-d5a41c7c2ea9956c57b5c72dc267b1dae12f3dfc5e36021dffd3dd8082f59571.scope",
		Containerd, "d5a41c7c2ea9956c57b5c72dc267b1dae12f3dfc5e36021dffd3dd8082f59571"},

	// CRI-O.
	{"cri-o cgroupfs", "/kubepods/besteffort/pod63b3ebfc-2890-11e9-8154-16bf8ef8d9dc/crio-73bfe475650de66df8e2affdc98d440dcbe84f8df83b6f75a68a82eb7026136a",
		CRIO, "73bfe475650de66df8e2affdc98d440dcbe84f8df83b6f75a68a82eb7026136a"},
	{"cri-o systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod63b3ebfc_2890_11e9_8154_16bf8ef8d9dc.slice/crio-17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f.scope",
		CRIO, "17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f"},
	{"cri-o parent", "/crio/17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f",
		CRIO, "17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f"},

	// podman.
	{"podman rootful", "/machine.slice/libpod-55ea3863351726184e26ca7418f577d04c96dac0009e1f088f6c0c7a1dc2ed7c.scope",
		Podman, "55ea3863351726184e26ca7418f577d04c96dac0009e1f088f6c0c7a1dc2ed7c"},
	{"podman rootless", "/user.slice/user-1001.slice/user@1001.service/user.slice/libpod-132ff0d72245e6f13a3bbc6cdc5376886897b60ac59eaa8dea1df7ab959cbf1c.scope",
		Podman, "132ff0d72245e6f13a3bbc6cdc5376886897b60ac59eaa8dea1df7ab959cbf1c"},
	{"podman rootless container sub-cgroup", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-be131b155b6a8ac24cfbafd05aa72c1575512f60dd242b24eec1c3cbb05e543a.scope/container",
		Podman, "be131b155b6a8ac24cfbafd05aa72c1575512f60dd242b24eec1c3cbb05e543a"},
	{"podman cgroupfs", "/libpod_parent/libpod-ba2f357a1a56ae4c263d4f5e8d46e12ceef89a08d7333ca29278e4f119e1b65c",
		Podman, "ba2f357a1a56ae4c263d4f5e8d46e12ceef89a08d7333ca29278e4f119e1b65c"},
	{"podman split", "/machine.slice/libpod-payload-ba2f357a1a56ae4c263d4f5e8d46e12ceef89a08d7333ca29278e4f119e1b65c.scope",
		Podman, "ba2f357a1a56ae4c263d4f5e8d46e12ceef89a08d7333ca29278e4f119e1b65c"},

	// containerd's own API (ctr, nerdctl): /<namespace>/<id> with cgroupfs,
	// ids being names; the full id keeps the namespace to ask in.
	{"ctr in k8s.io", "/k8s.io/vigil-web", Containerd, "k8s.io/vigil-web"},
	{"ctr in k8s.io v2 line", "0::/k8s.io/vigil-web\n", Containerd, "k8s.io/vigil-web"},
	{"ctr in moby v1 line", "4:memory:/moby/build_1.x", Containerd, "moby/build_1.x"},
	{"ctr hex id in k8s.io", "/k8s.io/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8",
		Containerd, "k8s.io/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"},
	{"ctr sub-cgroup", "/k8s.io/vigil-web/init.scope", Containerd, "k8s.io/vigil-web"},
	{"docker in a ctr container (composed)", "/k8s.io/node-1/docker/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8",
		Docker, "7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"},
	// The host.
	{"k8s.io not at the top", "/system.slice/k8s.io/vigil-web", Host, ""},
	{"k8s.io alone", "/k8s.io", Host, ""},
	{"k8s.io with no containerd id", "/k8s.io/-web", Host, ""},
	{"k8s.io with a double dot", "/k8s.io/a..b", Host, ""},
	{"k8s.io with a too long id", "/k8s.io/" + strings.Repeat("a", 77), Host, ""},
	{"unknown namespace", "/buildkit/vigil-web", Host, ""},
	{"root", "/", Host, ""},
	{"empty", "", Host, ""},
	{"v2 root line", "0::/", Host, ""},
	{"user session", "/user.slice/user-1000.slice/user@1000.service/init.scope", Host, ""},
	{"old user session", "/user/1000.user/c2.session", Host, ""},
	{"docker daemon", "/system.slice/docker.service", Host, ""},
	{"containerd daemon", "/system.slice/containerd.service", Host, ""},
	{"cri-o conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod63b3ebfc_2890_11e9_8154_16bf8ef8d9dc.slice/crio-conmon-17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f.scope", Host, ""},
	{"podman conmon", "/machine.slice/libpod-conmon-55ea3863351726184e26ca7418f577d04c96dac0009e1f088f6c0c7a1dc2ed7c.scope", Host, ""},
	{"kubelet pod slice", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod63b3ebfc_2890_11e9_8154_16bf8ef8d9dc.slice", Host, ""},
	{"containerd non-CRI namespace", "/default/test_container", Host, ""},
	{"sandbox process api", "/process_api/d4f97d19aeccf99b343ab9b55fcb7b7b", Host, ""},
	{"63 hex digits", "/docker/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b", Host, ""},
	{"65 hex digits", "/docker/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b88", Host, ""},
	{"uppercase id", "/docker/7951FB549AB99E0722A949B6C121634E1F3A36B5BACBE5392991E3B12251E6B8", Host, ""},
	{"docker- without scope", "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d", Host, ""},
	{"unknown scope prefix", "/system.slice/lxc-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope", Host, ""},
	{"unknown notation prefix", "/x.slice:lxc:d52db56a9c80d536a91354c0951c061187ca46249e64865a12703003d8f42366", Host, ""},
}

func TestParseCgroup(t *testing.T) {
	for _, c := range cgroupCases {
		rt, id := ParseCgroup(c.path)
		if rt != c.rt || id != c.id {
			t.Errorf("%s: ParseCgroup(%q) = %q, %q; want %q, %q", c.name, c.path, rt, id, c.rt, c.id)
		}
	}
}

func TestParseCgroupAllocatesNothing(t *testing.T) {
	for _, c := range cgroupCases {
		if n := testing.AllocsPerRun(100, func() { ParseCgroup(c.path) }); n != 0 {
			t.Errorf("%s: %v allocations per call", c.name, n)
		}
	}
}

func TestShortID(t *testing.T) {
	if got := ShortID("7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"); got != "7951fb549ab9" {
		t.Errorf("ShortID = %q", got)
	}
	if got := ShortID("abc"); got != "abc" {
		t.Errorf("ShortID(abc) = %q", got)
	}
	if got := ShortID("k8s.io/vigil-web-frontend"); got != "vigil-web-frontend" {
		t.Errorf("a named containerd container's short id is %q, want its whole name", got)
	}
	if got := ShortID("k8s.io/7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8"); got != "7951fb549ab9" {
		t.Errorf("a hex containerd id's short id is %q", got)
	}
}

func FuzzParseCgroup(f *testing.F) {
	for _, c := range cgroupCases {
		f.Add(c.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, id := ParseCgroup(path)
		switch rt {
		case Host:
			if id != "" {
				t.Fatalf("host with id %q", id)
			}
			return
		case Docker, Containerd, CRIO, Podman:
		default:
			t.Fatalf("runtime %q", rt)
		}
		if ns, cid, ok := SplitNamespaced(id); ok {
			if rt != Containerd || !slices.Contains(ContainerdNamespaces[:], ns) || !validContainerdID(cid) {
				t.Fatalf("%s %q: no containerd <namespace>/<id>", rt, id)
			}
		} else if len(id) != idLen || !isID(id) {
			t.Fatalf("id %q is not 64 lowercase hex digits", id)
		}
		if !strings.Contains(path, id) {
			t.Fatalf("id %q is not in %q", id, path)
		}
		// The innermost container: appending a sub-cgroup that names no
		// container changes nothing.
		sub := trimCgroup(path) + "/sub"
		if rt2, id2 := ParseCgroup(sub); rt2 != rt || id2 != id {
			t.Fatalf("%q = %q %q, want %q %q", sub, rt2, id2, rt, id)
		}
	})
}

var benchSink string

func BenchmarkParseCgroup(b *testing.B) {
	paths := []string{
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poddd1bf9d1_241d_47f5_8e25_12de83135812.slice/cri-containerd-f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830.scope",
		"/user.slice/user-1000.slice/user@1000.service/init.scope",
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, benchSink = ParseCgroup(paths[i&1])
	}
}
