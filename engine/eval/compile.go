// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/rules"
)

// node is a compiled condition.
type node interface {
	eval(c *fields.Ctx) bool
}

type andNode []node

func (n andNode) eval(c *fields.Ctx) bool {
	for _, x := range n {
		if !x.eval(c) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) eval(c *fields.Ctx) bool {
	for _, x := range n {
		if x.eval(c) {
			return true
		}
	}
	return false
}

type notNode struct{ x node }

func (n notNode) eval(c *fields.Ctx) bool { return !n.x.eval(c) }

type constNode bool

func (n constNode) eval(*fields.Ctx) bool { return bool(n) }

type opcode uint8

const (
	opEq opcode = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opContains
	opIContains
	opBContains
	opStartsWith
	opBStartsWith
	opEndsWith
	opGlob
	opIGlob
	opRegex
	opIn
	opIntersects
	opPmatch
	opExists
)

var opcodes = map[string]opcode{
	"=": opEq, "==": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe,
	"contains": opContains, "icontains": opIContains, "bcontains": opBContains,
	"startswith": opStartsWith, "bstartswith": opBStartsWith, "endswith": opEndsWith,
	"glob": opGlob, "iglob": opIGlob, "regex": opRegex, "in": opIn, "intersects": opIntersects,
	"pmatch": opPmatch, "exists": opExists,
}

// Operators each kind of value accepts.
var (
	stringOps  = []string{"=", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch", "exists"}
	numericOps = []string{"=", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"}
	boolOps    = []string{"=", "!=", "in", "exists"}
	ipOps      = []string{"=", "!=", "in", "intersects", "exists"}
	listOps    = []string{"in", "intersects", "exists"}
)

func opsFor(t fields.Type) []string {
	switch {
	case t == fields.String:
		return stringOps
	case t.Numeric():
		return numericOps
	case t == fields.Bool:
		return boolOps
	case t == fields.IPAddr || t == fields.IPNet:
		return ipOps
	}
	return listOps
}

func allows(t fields.Type, op string) bool {
	if op == "==" {
		op = "="
	}
	for _, o := range opsFor(t) {
		if o == op {
			return true
		}
	}
	return false
}

// cmpNode is one comparison: field (transformed) op value.
type cmpNode struct {
	f  *fields.Bound
	tr fields.Transformer
	t  fields.Type // the value's type after tr
	op opcode

	s     string
	raw   []byte
	n     int64
	b     bool
	ip    netip.Addr
	pfx   netip.Prefix
	sset  map[string]struct{}
	nset  map[int64]struct{}
	ipset map[netip.Addr]struct{}
	pfxs  []netip.Prefix
	paths []pathPrefix
	re    *regexp.Regexp

	// val(field) on the right
	rf  *fields.Bound
	rtr fields.Transformer
}

func (n *cmpNode) eval(c *fields.Ctx) bool {
	c.ResetScratch()
	if !n.f.Multi {
		v, ok := n.f.Extract(c, 0)
		return ok && n.test(c, v)
	}
	for i := 0; ; i++ {
		v, ok, more := n.f.ExtractNth(c, 0, i)
		if ok && n.test(c, v) {
			return true
		}
		if !more {
			return false
		}
	}
}

func (n *cmpNode) test(c *fields.Ctx, v *fields.Value) bool {
	if n.tr != fields.NoTransform && !n.tr.Apply(c, n.f.Type(), v) {
		return false
	}
	if n.op == opExists {
		return true
	}
	if n.rf != nil {
		return n.testVal(c, v)
	}
	switch {
	case n.t == fields.String:
		return n.testString(v.S)
	case n.t.Numeric():
		switch n.op {
		case opEq, opNe, opLt, opLe, opGt, opGe:
			return compareNum(n.op, v.N, n.n)
		case opIn, opIntersects:
			_, ok := n.nset[v.N]
			return ok
		}
	case n.t == fields.Bool:
		switch n.op {
		case opEq, opIn:
			return v.B == n.b || (n.op == opIn && len(n.nset) == 2)
		case opNe:
			return v.B != n.b
		}
	case n.t == fields.IPAddr:
		switch n.op {
		case opEq:
			return v.IP == n.ip
		case opNe:
			return v.IP != n.ip
		case opIn, opIntersects:
			_, ok := n.ipset[v.IP]
			return ok
		}
	case n.t == fields.IPNet:
		switch n.op {
		case opEq:
			return n.pfx.Contains(v.IP)
		case opNe:
			return !n.pfx.Contains(v.IP)
		case opIn, opIntersects:
			for _, p := range n.pfxs {
				if p.Contains(v.IP) {
					return true
				}
			}
			return false
		}
	case n.t == fields.StringList:
		if len(v.L) == 0 {
			return false
		}
		for _, s := range v.L {
			_, ok := n.sset[s]
			if ok && n.op == opIntersects {
				return true
			}
			if !ok && n.op == opIn {
				return false
			}
		}
		return n.op == opIn
	}
	return false
}

func (n *cmpNode) testString(s string) bool {
	switch n.op {
	case opEq:
		return s == n.s
	case opNe:
		return s != n.s
	case opContains:
		return strings.Contains(s, n.s)
	case opIContains:
		return containsFold(s, n.s)
	case opBContains:
		return strings.Contains(s, string(n.raw))
	case opStartsWith:
		return strings.HasPrefix(s, n.s)
	case opBStartsWith:
		return strings.HasPrefix(s, string(n.raw))
	case opEndsWith:
		return strings.HasSuffix(s, n.s)
	case opGlob:
		return glob(n.s, s, false)
	case opIGlob:
		return glob(n.s, s, true)
	case opRegex:
		return n.re.MatchString(s)
	case opIn, opIntersects:
		_, ok := n.sset[s]
		return ok
	case opPmatch:
		for i := range n.paths {
			if n.paths[i].match(s) {
				return true
			}
		}
	}
	return false
}

// testVal compares with val(field): both values are of the same kind.
func (n *cmpNode) testVal(c *fields.Ctx, v *fields.Value) bool {
	r, ok := n.rf.Extract(c, 1)
	if !ok || (n.rtr != fields.NoTransform && !n.rtr.Apply(c, n.rf.Type(), r)) {
		return false
	}
	switch {
	case n.t == fields.String:
		switch n.op {
		case opEq:
			return v.S == r.S
		case opNe:
			return v.S != r.S
		case opContains:
			return strings.Contains(v.S, r.S)
		case opIContains:
			return strings.Contains(strings.ToLower(v.S), strings.ToLower(r.S))
		case opStartsWith:
			return strings.HasPrefix(v.S, r.S)
		case opEndsWith:
			return strings.HasSuffix(v.S, r.S)
		}
	case n.t.Numeric():
		return compareNum(n.op, v.N, r.N)
	case n.t == fields.Bool:
		return (v.B == r.B) == (n.op == opEq)
	case n.t == fields.IPAddr || n.t == fields.IPNet:
		return (v.IP == r.IP) == (n.op == opEq)
	}
	return false
}

// compiler turns one rule's resolved condition into nodes, collecting
// errors located through errAt.
// domainNode compares a domain field (fd.sip.name...) with names: true
// when the address resolves from one of them (negated for !=), false when
// the event has no address, as Falco's.
type domainNode struct {
	f     *fields.Bound
	names []string
	neg   bool
}

func (n *domainNode) eval(c *fields.Ctx) bool {
	m, ok := n.f.MatchDomain(c, n.names)
	return ok && m != n.neg
}

// domain compiles a comparison of a domain field: =, != or in with names,
// which the program then resolves (Program.Domains).
func (cc *compiler) domain(e *rules.CompareExpr, b *fields.Bound, tr fields.Transformer, op opcode) node {
	if tr != fields.NoTransform {
		cc.fail(e.Field, "compare the field itself", "%s cannot take a transformer: it compares addresses, not text", e.Field.Name)
		return nil
	}
	n := &domainNode{f: b, neg: op == opNe}
	switch v := e.Value.(type) {
	case *rules.Literal:
		if op != opEq && op != opNe {
			break
		}
		n.names = []string{v.Value}
	case *rules.ListValue:
		if op != opIn {
			break
		}
		n.names = []string{} // an empty list is valid: it matches nothing
		for _, it := range v.Items {
			l, ok := it.(*rules.Literal)
			if !ok {
				cc.fail(it, "", "unexpected %s in list", it.String())
				return nil
			}
			n.names = append(n.names, l.Value)
		}
	}
	if n.names == nil {
		cc.fail(e, "write "+e.Field.Name+" = NAME, != NAME or in (NAME, ...)",
			"operator '%s' cannot be used with %s: a domain field compares with domain names by =, != and in", e.Op, e.Field.Name)
		return nil
	}
	cc.domains = append(cc.domains, n.names...)
	return n
}

type compiler struct {
	// domains are the names domain fields are compared with.
	domains []string
	errAt   func(n rules.Node, hint, msg string)
	// warnAt reports what compiles but deserves attention.
	warnAt func(n rules.Node, hint, msg string)
	tab    *names
	// source is the rule's event source: its fields are the only known
	// ones.
	source string
	// unknown counts unknown-field errors (skip-if-unknown-filter), and
	// fields vigil never has data for: to that rule, the same.
	unknown, other int
}

func (cc *compiler) fail(n rules.Node, hint, format string, args ...any) {
	cc.other++
	cc.errAt(n, hint, fmt.Sprintf(format, args...))
}

func (cc *compiler) node(n rules.Node) node {
	switch n := n.(type) {
	case *rules.BinaryExpr:
		l, r := cc.node(n.Left), cc.node(n.Right)
		if n.Op == rules.OpAnd {
			return flatten(andNode{}, l, r)
		}
		return flattenOr(orNode{}, l, r)
	case *rules.NotExpr:
		return notNode{cc.node(n.X)}
	case *rules.CompareExpr:
		if c := cc.compare(n); c != nil {
			return c
		}
	case *rules.MacroRef:
		cc.fail(n, "define it with '- macro: "+n.Name+"'", "undefined macro '%s'", n.Name)
	case nil:
		cc.fail(n, "", "empty condition")
	default:
		cc.fail(n, "", "unexpected %s in condition", n.String())
	}
	return constNode(false)
}

func flatten(out andNode, xs ...node) andNode {
	for _, x := range xs {
		if a, ok := x.(andNode); ok {
			out = append(out, a...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

func flattenOr(out orNode, xs ...node) orNode {
	for _, x := range xs {
		if a, ok := x.(orNode); ok {
			out = append(out, a...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// bind resolves a field reference of the rule.
func (cc *compiler) bind(f *rules.Field) (*fields.Bound, fields.Transformer, fields.Type, bool) {
	b, err := fields.Bind(f.Name, f.Arg, f.HasArg)
	if err != nil {
		fe, _ := err.(*fields.Error)
		if fe == nil {
			fe = &fields.Error{Msg: err.Error()}
		}
		if strings.HasPrefix(fe.Msg, "unknown field") {
			cc.unknown++
		} else {
			cc.other++
		}
		cc.errAt(f, fe.Hint, fe.Msg)
		return nil, 0, 0, false
	}
	if fe := sourceMismatch(b, cc.source); fe != nil {
		cc.unknown++
		cc.errAt(f, fe.Hint, fe.Msg)
		return nil, 0, 0, false
	}
	if b.Never != "" {
		// A condition on a field that never has a value is silently
		// false (or true under not): say so.
		if b.Reject {
			cc.unknown++
			cc.errAt(f, "remove the comparison, or keep the field in the rule's output only, where it prints <NA>",
				fmt.Sprintf("field '%s' cannot be used in a condition: %s, so it is never available", f.Name, b.Never))
			return nil, 0, 0, false
		}
		if cc.warnAt != nil {
			cc.warnAt(f, "", fmt.Sprintf("field '%s' is never available (%s): this comparison is always false", f.Name, b.Never))
		}
	}
	tr := fields.NoTransform
	t := b.Type()
	if f.Transformer != "" {
		var ok bool
		tr, ok = fields.ParseTransformer(f.Transformer)
		if !ok {
			cc.fail(f, "use tolower, toupper, b64, basename or len", "unknown transformer '%s'", f.Transformer)
			return nil, 0, 0, false
		}
		if t, err = tr.ResultType(b.Type()); err != nil {
			cc.fail(f, "", "%s: %v", f.String(), err)
			return nil, 0, 0, false
		}
	}
	return b, tr, t, true
}

// sourceMismatch is the error for a field of another source than the
// rule's: as in Falco, each source knows only its own fields, and an
// extractor must never see another source's event.
func sourceMismatch(b *fields.Bound, source string) *fields.Error {
	if source == "" {
		source = "syscall"
	}
	if fs := b.SourceOf(); fs != source {
		return &fields.Error{Msg: fmt.Sprintf("unknown field '%s' for source '%s'", b.Text, source),
			Hint: fmt.Sprintf("it is a field of the '%s' source: use it in rules with source: %s", fs, fs)}
	}
	return nil
}

func (cc *compiler) compare(e *rules.CompareExpr) node {
	if e.Field == nil {
		cc.fail(e, "", "comparison without a field")
		return nil
	}
	b, tr, t, ok := cc.bind(e.Field)
	if !ok {
		return nil
	}
	op, known := opcodes[e.Op]
	if !known {
		cc.fail(e, "", "unknown operator '%s'", e.Op)
		return nil
	}
	if b.IsDomain() && op != opExists {
		return cc.domain(e, b, tr, op)
	}
	if !allows(t, e.Op) {
		cc.fail(e, "operators for "+t.String()+" fields: "+strings.Join(opsFor(t), ", "),
			"operator '%s' cannot be used with %s, a %s field", e.Op, e.Field.String(), t)
		return nil
	}
	n := &cmpNode{f: b, tr: tr, t: t, op: op}
	if op == opExists {
		return n
	}
	switch v := e.Value.(type) {
	case *rules.FieldValue:
		return cc.compareVal(n, e, v)
	case *rules.Literal:
		if op == opIn || op == opIntersects || op == opPmatch {
			cc.fail(v, "write the values in parentheses: "+e.Field.String()+" "+e.Op+" (a, b)", "operator '%s' needs a list", e.Op)
			return nil
		}
		if !cc.literal(n, e, v) {
			return nil
		}
	case *rules.ListValue:
		if op != opIn && op != opIntersects && op != opPmatch {
			cc.fail(v, "use in, intersects or pmatch with a list", "operator '%s' cannot take a list", e.Op)
			return nil
		}
		if !cc.list(n, e, v) {
			return nil
		}
	default:
		cc.fail(e, "", "operator '%s' needs a value", e.Op)
		return nil
	}
	return n
}

func (cc *compiler) compareVal(n *cmpNode, e *rules.CompareExpr, v *rules.FieldValue) node {
	switch n.op {
	case opEq, opNe, opLt, opLe, opGt, opGe, opContains, opIContains, opStartsWith, opEndsWith:
	default:
		cc.fail(v, "use =, !=, <, <=, >, >=, contains, icontains, startswith or endswith", "operator '%s' cannot compare with val()", e.Op)
		return nil
	}
	rb, rtr, rt, ok := cc.bind(v.Field)
	if !ok {
		return nil
	}
	same := rt == n.t || (rt.Numeric() && n.t.Numeric()) ||
		((rt == fields.IPAddr || rt == fields.IPNet) && (n.t == fields.IPAddr || n.t == fields.IPNet))
	if !same || n.t == fields.StringList {
		cc.fail(v, "compare fields of the same type", "cannot compare %s (%s) with val(%s) (%s)", e.Field.String(), n.t, v.Field.String(), rt)
		return nil
	}
	if rb.Multi {
		cc.fail(v, "give the field an index", "val(%s) needs a single value", v.Field.String())
		return nil
	}
	n.rf, n.rtr = rb, rtr
	return n
}

// literal converts the right-hand value to the field's type.
func (cc *compiler) literal(n *cmpNode, e *rules.CompareExpr, l *rules.Literal) bool {
	s := l.Value
	switch {
	case n.t == fields.String:
		switch n.op {
		case opBContains, opBStartsWith:
			raw, err := hex.DecodeString(s)
			if err != nil {
				cc.fail(l, "write the bytes in hex, e.g. "+e.Field.String()+" "+e.Op+" CAFEF00D", "'%s' is not a hex byte string", s)
				return false
			}
			n.raw = raw
		case opIContains:
			n.s = strings.ToLower(s)
		case opRegex:
			re, err := regexp.Compile(`^(?:` + s + `)$`)
			if err != nil {
				cc.fail(l, "regex uses RE2 syntax and matches the whole value", "invalid regular expression %q: %v", s, err)
				return false
			}
			n.re = re
		default:
			n.s = s
		}
		if cc.tab != nil && e.Field.Name == "evt.type" && e.Field.Transformer == "" && (n.op == opEq || n.op == opNe) {
			if _, err := cc.tab.keys(s); err != nil {
				cc.fail(l, err.hint, "%s", err.msg)
				return false
			}
		}
		return true
	case n.t.Numeric():
		v, ok := parseNumber(s, n.t)
		if !ok {
			cc.fail(l, numberHint(n.t, e.Field.String()), "%s has type %s: '%s' is not a valid value", e.Field.String(), n.t, s)
			return false
		}
		n.n = v
	case n.t == fields.Bool:
		switch strings.ToLower(s) {
		case "true":
			n.b = true
		case "false":
			n.b = false
		default:
			cc.fail(l, "use true or false", "%s is a bool field: '%s' is not true or false", e.Field.String(), s)
			return false
		}
	case n.t == fields.IPAddr:
		ip, err := netip.ParseAddr(s)
		if err != nil {
			cc.fail(l, "use an address like 10.0.0.1 (and fd.net, fd.snet... for networks)", "%s is an IP address field: '%s' is not an IP address", e.Field.String(), s)
			return false
		}
		n.ip = ip.Unmap()
	case n.t == fields.IPNet:
		p, ok := parsePrefix(s)
		if !ok {
			cc.fail(l, "use a network like 10.0.0.0/8", "%s is an IP network field: '%s' is not a network", e.Field.String(), s)
			return false
		}
		n.pfx = p
	}
	return true
}

func numberHint(t fields.Type, f string) string {
	switch t {
	case fields.Port:
		return "use a port number from 0 to 65535, e.g. " + f + " = 443"
	case fields.Uint64:
		return "use a number >= 0, e.g. " + f + " = 0"
	}
	return "use a number, e.g. " + f + " = 0"
}

func parseNumber(s string, t fields.Type) (int64, bool) {
	base := 10
	digits := s
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		base, digits = 16, s[2:]
	}
	if t == fields.Uint64 || t == fields.Port || t == fields.AbsTime {
		u, err := strconv.ParseUint(digits, base, 64)
		if err != nil || (t == fields.Port && u > 65535) {
			return 0, false
		}
		return int64(u), true
	}
	neg := strings.HasPrefix(digits, "-")
	if neg && base == 16 {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, base, 64)
	return v, err == nil
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	return netip.Prefix{}, false
}

func (cc *compiler) list(n *cmpNode, e *rules.CompareExpr, lv *rules.ListValue) bool {
	if n.op == opPmatch && n.t != fields.String {
		cc.fail(e, "pmatch compares paths", "operator 'pmatch' cannot be used with %s, a %s field", e.Field.String(), n.t)
		return false
	}
	ok := true
	evtType := cc.tab != nil && e.Field.Name == "evt.type" && e.Field.Transformer == ""
	for _, it := range lv.Items {
		l, isLit := it.(*rules.Literal)
		if !isLit {
			cc.fail(it, "", "unexpected %s in list", it.String())
			ok = false
			continue
		}
		s := l.Value
		switch {
		case n.op == opPmatch:
			n.paths = append(n.paths, newPathPrefix(s))
		case n.t == fields.String || n.t == fields.StringList:
			if evtType {
				if _, err := cc.tab.keys(s); err != nil {
					cc.fail(l, err.hint, "%s", err.msg)
					ok = false
					continue
				}
			}
			if n.sset == nil {
				n.sset = map[string]struct{}{}
			}
			n.sset[s] = struct{}{}
		case n.t.Numeric():
			v, good := parseNumber(s, n.t)
			if !good {
				cc.fail(l, numberHint(n.t, e.Field.String()), "%s has type %s: '%s' is not a valid value", e.Field.String(), n.t, s)
				ok = false
				continue
			}
			if n.nset == nil {
				n.nset = map[int64]struct{}{}
			}
			n.nset[v] = struct{}{}
		case n.t == fields.Bool:
			switch strings.ToLower(s) {
			case "true", "false":
				if n.nset == nil {
					n.nset = map[int64]struct{}{}
				}
				b := strings.ToLower(s) == "true"
				n.b = b
				if b {
					n.nset[1] = struct{}{}
				} else {
					n.nset[0] = struct{}{}
				}
			default:
				cc.fail(l, "use true or false", "%s is a bool field: '%s' is not true or false", e.Field.String(), s)
				ok = false
			}
		case n.t == fields.IPAddr:
			ip, err := netip.ParseAddr(s)
			if err != nil {
				cc.fail(l, "use addresses like 10.0.0.1 (and fd.net, fd.snet... for networks)", "%s is an IP address field: '%s' is not an IP address", e.Field.String(), s)
				ok = false
				continue
			}
			if n.ipset == nil {
				n.ipset = map[netip.Addr]struct{}{}
			}
			n.ipset[ip.Unmap()] = struct{}{}
		case n.t == fields.IPNet:
			p, good := parsePrefix(s)
			if !good {
				cc.fail(l, "use networks like 10.0.0.0/8", "%s is an IP network field: '%s' is not a network", e.Field.String(), s)
				ok = false
				continue
			}
			n.pfxs = append(n.pfxs, p)
		}
	}
	return ok
}

// compareNum applies an ordering operator to two numbers; false for any
// other operator.
func compareNum(op opcode, a, b int64) bool {
	switch op {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	case opGe:
		return a >= b
	}
	return false
}
