// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

// Audit events as the API server's webhook backend writes them
// (audit.k8s.io/v1, level RequestResponse where a rule reads the request
// object).

// podExec is kubectl exec -it nginx -- sh: the connection upgrade is
// audited at ResponseStarted.
const podExec = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
  "auditID": "4c2b5b1e-1f0a-4f43-9a57-2f3f6c1f0e01", "stage": "ResponseStarted",
  "requestURI": "/api/v1/namespaces/default/pods/nginx/exec?command=sh&container=nginx&stdin=true&stdout=true&tty=true",
  "verb": "create",
  "user": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
  "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
  "objectRef": {"resource": "pods", "namespace": "default", "name": "nginx", "apiVersion": "v1", "subresource": "exec"},
  "responseStatus": {"metadata": {}, "code": 101},
  "requestReceivedTimestamp": "2026-12-06T11:02:03.123456Z", "stageTimestamp": "2026-12-06T11:02:03.150000Z",
  "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
}`

// clusterAdminBinding is kubectl create clusterrolebinding
// mallory-admin --clusterrole=cluster-admin --user=mallory.
const clusterAdminBinding = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
  "auditID": "9a0e2c1d-7b7e-4d59-8f0a-3a9b5c2d1e02", "stage": "ResponseComplete",
  "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create&fieldValidation=Strict",
  "verb": "create",
  "user": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
  "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
  "objectRef": {"resource": "clusterrolebindings", "name": "mallory-admin", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
  "responseStatus": {"metadata": {}, "code": 201},
  "requestObject": {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "mallory-admin", "creationTimestamp": null},
    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"}],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}},
  "responseObject": {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "mallory-admin", "uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "resourceVersion": "1234"},
    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"}],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}},
  "requestReceivedTimestamp": "2026-12-06T11:03:00.000001Z", "stageTimestamp": "2026-12-06T11:03:00.010000Z",
  "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
}`

// secretConfigMap creates a ConfigMap holding AWS credentials.
const secretConfigMap = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
  "auditID": "1b2c3d4e-5f60-4718-8293-a4b5c6d7e803", "stage": "ResponseComplete",
  "requestURI": "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create&fieldValidation=Strict",
  "verb": "create",
  "user": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
  "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
  "objectRef": {"resource": "configmaps", "namespace": "default", "name": "aws-creds", "apiVersion": "v1"},
  "responseStatus": {"metadata": {}, "code": 201},
  "requestObject": {"kind": "ConfigMap", "apiVersion": "v1",
    "metadata": {"name": "aws-creds", "namespace": "default", "creationTimestamp": null},
    "data": {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
  "requestReceivedTimestamp": "2026-12-06T11:04:00.000001Z", "stageTimestamp": "2026-12-06T11:04:00.008000Z",
  "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
}`

// anonymousList is an unauthenticated client listing pods on a cluster
// that lets system:anonymous do so.
const anonymousList = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
  "auditID": "7d8e9f00-1a2b-4c3d-8e4f-5a6b7c8d9e04", "stage": "ResponseComplete",
  "requestURI": "/api/v1/namespaces/default/pods?limit=500", "verb": "list",
  "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
  "sourceIPs": ["203.0.113.7"], "userAgent": "curl/8.5.0",
  "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
  "responseStatus": {"metadata": {}, "code": 200},
  "requestReceivedTimestamp": "2026-12-06T11:05:00.000001Z", "stageTimestamp": "2026-12-06T11:05:00.004000Z",
  "annotations": {"authorization.k8s.io/decision": "allow",
    "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"anon-read\" of ClusterRole \"view\" to User \"system:anonymous\""}
}`

// anonymousHealthz is the anonymous health probe every cluster allows:
// no alert.
const anonymousHealthz = `{
  "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
  "auditID": "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a05", "stage": "ResponseComplete",
  "requestURI": "/healthz", "verb": "get",
  "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
  "sourceIPs": ["10.0.0.1"], "userAgent": "kube-probe/1.30",
  "responseStatus": {"metadata": {}, "code": 200},
  "requestReceivedTimestamp": "2026-12-06T11:06:00.000001Z", "stageTimestamp": "2026-12-06T11:06:00.001000Z",
  "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\""}
}`

// eventList batches events as the webhook backend does.
func eventList(events ...string) string {
	s := `{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [`
	for i, e := range events {
		if i > 0 {
			s += ","
		}
		s += e
	}
	return s + "]}"
}
