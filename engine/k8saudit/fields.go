// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/engine/fields"
)

// strField reads one string of an event; arg is the [argument] when the
// field takes one.
type strField func(e *Event, arg string) (string, bool)

// listField reads a list of strings of an event.
type listField func(e *Event) ([]string, bool)

func key(keys ...string) strField {
	return func(e *Event, _ string) (string, bool) { return text(e.get(keys...)) }
}

func keyList(keys ...string) listField {
	return func(e *Event) ([]string, bool) { return texts(e.get(keys...)) }
}

func addStr(name, desc string, arg fields.ArgKind, f strField) {
	fields.Register(Source, fields.Field{Name: name, Type: fields.String, Desc: desc, Arg: arg, ArgRequired: arg != fields.ArgNone},
		func(c *fields.Ctx, b *fields.Bound, v *fields.Value) bool {
			e, ok := c.Ext.(*Event)
			if !ok {
				return false
			}
			v.S, ok = f(e, b.Arg)
			return ok
		})
}

func addList(name, desc string, f listField) {
	fields.Register(Source, fields.Field{Name: name, Type: fields.StringList, Desc: desc},
		func(c *fields.Ctx, _ *fields.Bound, v *fields.Value) bool {
			e, ok := c.Ext.(*Event)
			if !ok {
				return false
			}
			v.L, ok = f(e)
			// As in Falco, a field with no value does not exist: an empty
			// list is not available.
			return ok && len(v.L) > 0
		})
}

// containerKinds are the pod spec's container lists and how field names
// call them.
var containerKinds = []string{"containers", "initContainers", "ephemeralContainers"}

func init() {
	addStr("ka.auditid", "the unique id of the audit event", 0, key("auditID"))
	addStr("ka.stage", "stage of the request (RequestReceived, ResponseStarted, ResponseComplete, Panic)", 0, key("stage"))
	addStr("ka.auth.decision", "the authorization decision (allow, forbid)", 0, key("annotations", "authorization.k8s.io/decision"))
	addStr("ka.auth.reason", "the authorization reason", 0, key("annotations", "authorization.k8s.io/reason"))
	addStr("ka.user.name", "the user name performing the request", 0, key("user", "username"))
	addList("ka.user.groups", "the groups to which the user belongs", keyList("user", "groups"))
	addStr("ka.impuser.name", "the impersonated user name", 0, key("impersonatedUser", "username"))
	addStr("ka.verb", "the action being performed (get, create, …)", 0, key("verb"))
	addStr("ka.uri", "the request URI as sent from client to server", 0, key("requestURI"))
	addStr("ka.uri.param", "the value of a query parameter of the URI: ka.uri.param[command]", fields.ArgKey, uriParam)
	addStr("ka.target.name", "the target object name", 0, key("objectRef", "name"))
	addStr("ka.target.namespace", "the target object namespace", 0, key("objectRef", "namespace"))
	addStr("ka.target.resource", "the target object resource", 0, key("objectRef", "resource"))
	addStr("ka.target.subresource", "the target object subresource", 0, key("objectRef", "subresource"))
	addList("ka.sourceips", "the IP addresses the request came from (and through)", keyList("sourceIPs"))
	addStr("ka.useragent", "the user agent of the client", 0, key("userAgent"))
	addStr("ka.resp.name", "the response object name", 0, key("responseObject", "metadata", "name"))
	addStr("ka.response.code", "the response code", 0, key("responseStatus", "code"))
	addStr("ka.response.reason", "the response reason (usually present only for failures)", 0, key("responseStatus", "reason"))

	addList("ka.req.binding.subjects", "a (cluster) role binding's subjects", keyList("requestObject", "subjects"))
	addStr("ka.req.binding.role", "the role a (cluster) role binding links", 0, key("requestObject", "roleRef", "name"))
	addStr("ka.req.binding.subject.has_name", "deprecated: always true, as Falco's", fields.ArgKey,
		func(*Event, string) (string, bool) { return "true", true })
	addStr("ka.req.configmap.name", "a configmap's name", 0, key("objectRef", "name"))
	addStr("ka.req.configmap.obj", "a configmap's data, as JSON", 0, key("requestObject", "data"))
	addList("ka.req.role.rules", "a (cluster) role's rules, as JSON", keyList("requestObject", "rules"))
	for _, r := range []string{"apiGroups", "nonResourceURLs", "verbs", "resources"} {
		addList("ka.req.role.rules."+r, "the "+r+" of a (cluster) role's rules", ruleField(r))
	}
	addStr("ka.req.service.type", "a service's type", 0, key("requestObject", "spec", "type"))
	addList("ka.req.service.ports", "a service's ports, as JSON", keyList("requestObject", "spec", "ports"))

	spec := []string{"requestObject", "spec"}
	addStr("ka.req.pod.host_ipc", "a pod's hostIPC flag", 0, key("requestObject", "spec", "hostIPC"))
	addStr("ka.req.pod.host_network", "a pod's hostNetwork flag", 0, key("requestObject", "spec", "hostNetwork"))
	addStr("ka.req.container.host_network", "deprecated alias for ka.req.pod.host_network", 0, key("requestObject", "spec", "hostNetwork"))
	addStr("ka.req.pod.host_pid", "a pod's hostPID flag", 0, key("requestObject", "spec", "hostPID"))
	addStr("ka.req.pod.run_as_user", "a pod's securityContext runAsUser", 0, key("requestObject", "spec", "securityContext", "runAsUser"))
	addStr("ka.req.pod.run_as_group", "a pod's securityContext runAsGroup", 0, key("requestObject", "spec", "securityContext", "runAsGroup"))
	addStr("ka.req.pod.fs_group", "a pod's securityContext fsGroup", 0, key("requestObject", "spec", "securityContext", "fsGroup"))
	addList("ka.req.pod.supplemental_groups", "a pod's securityContext supplementalGroups", keyList("requestObject", "spec", "securityContext", "supplementalGroups"))
	addList("ka.req.pod.volumes.hostpath", "a pod's hostPath volume paths", func(e *Event) ([]string, bool) {
		return e.each(append(spec, "volumes"), "hostPath", "path")
	})
	addList("ka.req.pod.volumes.flexvolume_driver", "a pod's flexVolume drivers", func(e *Event) ([]string, bool) {
		return e.each(append(spec, "volumes"), "flexVolume", "driver")
	})
	addList("ka.req.pod.volumes.volume_type", "a pod's volume types (hostPath, configMap, …)", volumeTypes)
	addStr("ka.req.volume.hostpath", "deprecated: true when a volume has this host path (a trailing * matches a prefix)", fields.ArgKey, volumeHostPath)
	addStr("ka.req.container.image", "deprecated: the first container's image", 0, func(e *Event, _ string) (string, bool) {
		return first(e.each(append(spec, "containers"), "image"))
	})
	addStr("ka.req.container.image.repository", "deprecated: the first container's image repository", 0, func(e *Event, _ string) (string, bool) {
		s, ok := first(e.each(append(spec, "containers"), "image"))
		return repository(s), ok
	})
	addStr("ka.req.container.privileged", "deprecated: true when any container is privileged", 0, func(e *Event, _ string) (string, bool) {
		l, ok := e.each(append(spec, "containers"), "securityContext", "privileged")
		for _, s := range l {
			if s == "true" {
				return "true", ok
			}
		}
		return "false", ok
	})
	for _, kind := range containerKinds {
		addContainerFields(kind)
	}

	// The json plugin's fields, which the upstream rules use for the stage
	// and for paths no ka.* field names.
	addStr("jevt.value", "the value at a JSON pointer in the event: jevt.value[/requestObject/spec]", fields.ArgKey,
		func(e *Event, p string) (string, bool) { return text(e.Pointer(p)) })
	addStr("jevt.obj", "the whole event, as JSON", 0, func(e *Event, _ string) (string, bool) { return string(e.Raw), true })
	addStr("jevt.rawtime", "the event's time, in nanoseconds since the epoch", 0, func(e *Event, _ string) (string, bool) {
		return strconv.FormatInt(e.Time.UnixNano(), 10), true
	})
	addStr("jevt.time", "the event's time (RFC 3339)", 0, func(e *Event, _ string) (string, bool) {
		return e.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"), true
	})
}

// addContainerFields registers ka.req.pod.<kind>.* for one container list.
func addContainerFields(kind string) {
	path := []string{"requestObject", "spec", kind}
	p := "ka.req.pod." + kind + "."
	sc := func(name, what string) {
		addList(p+name, "the "+what+" of a pod's "+kind, func(e *Event) ([]string, bool) {
			return e.each(path, "securityContext", what)
		})
	}
	addList(p+"image", "the images of a pod's "+kind, func(e *Event) ([]string, bool) { return e.each(path, "image") })
	addList(p+"image.repository", "the image repositories (no tag or digest) of a pod's "+kind, func(e *Event) ([]string, bool) {
		l, ok := e.each(path, "image")
		for i := range l {
			l[i] = repository(l[i])
		}
		return l, ok
	})
	sc("privileged", "privileged")
	sc("allow_privilege_escalation", "allowPrivilegeEscalation")
	sc("read_only_fs", "readOnlyRootFilesystem")
	sc("run_as_user", "runAsUser")
	sc("run_as_group", "runAsGroup")
	sc("proc_mount", "procMount")
	addList(p+"add_capabilities", "the capabilities added to a pod's "+kind, func(e *Event) ([]string, bool) {
		arr, ok := e.get(path...).([]any)
		var out []string
		for _, c := range arr {
			caps, _ := texts(dig(c, "securityContext", "capabilities", "add"))
			out = append(out, caps...)
		}
		return out, ok
	})
	addList(p+"host_port", "the host ports of a pod's "+kind, func(e *Event) ([]string, bool) {
		arr, ok := e.get(path...).([]any)
		var out []string
		for _, c := range arr {
			ports, _ := dig(c, "ports").([]any)
			for _, port := range ports {
				if s, ok := text(dig(port, "hostPort")); ok {
					out = append(out, s)
				}
			}
		}
		return out, ok
	})
	// eff_: what the container runs as, its own setting, else the pod's,
	// else 0 (root).
	for _, id := range [][2]string{{"eff_run_as_user", "runAsUser"}, {"eff_run_as_group", "runAsGroup"}} {
		what := id[1]
		addList(p+id[0], "the effective "+what+" of a pod's "+kind+" (container's, else pod's, else 0)", func(e *Event) ([]string, bool) {
			arr, ok := e.get(path...).([]any)
			pod, hasPod := text(e.get("requestObject", "spec", "securityContext", what))
			out := make([]string, 0, len(arr))
			for _, c := range arr {
				s, ok := text(dig(c, "securityContext", what))
				switch {
				case ok:
				case hasPod:
					s = pod
				default:
					s = "0"
				}
				out = append(out, s)
			}
			return out, ok
		})
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func first(l []string, ok bool) (string, bool) {
	if !ok || len(l) == 0 {
		return "", false
	}
	return l[0], true
}

func uriParam(e *Event, name string) (string, bool) {
	s, ok := text(e.get("requestURI"))
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	vals, ok := u.Query()[name]
	if !ok || len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

func ruleField(name string) listField {
	return func(e *Event) ([]string, bool) {
		rules, ok := e.get("requestObject", "rules").([]any)
		var out []string
		for _, r := range rules {
			l, _ := texts(dig(r, name))
			out = append(out, l...)
		}
		return out, ok
	}
}

func volumeTypes(e *Event) ([]string, bool) {
	vols, ok := e.get("requestObject", "spec", "volumes").([]any)
	var out []string
	for _, v := range vols {
		m, _ := v.(map[string]any)
		start := len(out)
		for k := range m {
			if k != "name" {
				out = append(out, k)
			}
		}
		slices.Sort(out[start:]) // map order is random; outputs should not be

	}
	return out, ok
}

func volumeHostPath(e *Event, arg string) (string, bool) {
	paths, ok := e.each([]string{"requestObject", "spec", "volumes"}, "hostPath", "path")
	if !ok {
		return "", false
	}
	prefix, isPrefix := strings.CutSuffix(arg, "*")
	for _, p := range paths {
		if p == arg || (isPrefix && strings.HasPrefix(p, prefix)) {
			return "true", true
		}
	}
	return "false", true
}
