// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package fields is the registry of Falco filter fields (evt.*, proc.*,
// thread.*, fd.*, fs.path.*, user.*, group.*, container.*, k8s.*) and their
// extractors, which read one event and the state around it from a Ctx.
//
// Decisions (Falco's documented semantics unless said otherwise):
//
//   - A value that cannot be had is "not available": Extract reports false,
//     outputs print <NA>, and every comparison on it is false, != included
//     (Falco drops a check whose field does not extract); only "not"
//     around it makes it true. exists is the way to test for presence.
//   - Strings are returned without copying: they alias the event's bytes,
//     the state tables or the Ctx's scratch buffer, and are valid until the
//     next extraction on the same Ctx. Copy them (strings.Clone) to keep.
//     Extraction allocates nothing, so rule evaluation can run at event
//     rate.
//   - Entry and exit: evt.dir is ">" for entry events and "<" for exit and
//     process lifecycle events. evt.type is the syscall's name for syscall
//     events (both directions), the syscall's name for generic events when
//     the SyscallTable knows it, and the lifecycle event's own name
//     (proc_fork, proc_exec, proc_exit) otherwise.
//   - The fd an event refers to: the fd parameter of fd-taking events
//     (connect, bind, listen, fchmod, fchdir, setns, finit_module, close;
//     oldfd for the dup family), the return value of fd-creating ones (open
//     family, creat, socket, accept, accept4, memfd_create; fd1 for pipe),
//     looked up in the process's FDTable after the state update. An open
//     whose fd the table does not hold still has fd.name, fd.typechar 'f'
//     and its flags from the event; a failed open has fd.num -1 (this is
//     what Falco's open_file_failed macro relies on).
//   - fd.cip/fd.sip: a listening socket, or one whose name
//     ("client:port->server:port") puts its local end on the right, is the
//     server end; any other socket is the client end (connect).
//   - proc.aname and proc.apid without an index iterate the process itself
//     and all its ancestors and match if any of them does (Falco: "matches
//     any of the process ancestors", index 0 being the process); fd.ip,
//     fd.port and fd.net match if either end does. These forms are filter
//     only, not allowed in outputs.
//   - proc.name is the thread's comm; proc.cmdline is proc.name followed by
//     the arguments; proc.args is the arguments joined by spaces (a string,
//     as in Falco). proc.cwd ends with '/', as Falco's does.
//   - user.uid and group.gid are the effective ids; user.loginuid is -1
//     when unset.
//   - Container fields of a host process: container.id and container.name
//     are "host", everything else is not available. A container whose
//     metadata is Pending or Failed has container.id (and type when known)
//     and nothing else. Empty metadata strings are not available.
//   - fd.cip.name, fd.sip.name, fd.lip.name, fd.rip.name work as Falco's
//     DNS manager: the names a condition compares them with (=, !=, in)
//     are resolved in the background (engine/dns), and the comparison
//     holds when the address is among a name's addresses; outputs print a
//     name that resolved to the address, or <NA>.
//   - Fields vigil has no data for (proc.exe_ino.ctime, .mtime,
//     .ctime_duration_proc_start, and the container health-check and
//     probe flags) print <NA> in outputs, where upstream
//     rules name them, but a condition on one is a compile error: it
//     could only be silently false (Field.Never).
//   - fd.name_changed is true when the event changed the name of an fd
//     the table already had (a connect or bind gave a socket its
//     address); evt.is_open_exec when an open family call or creat
//     creates a file (O_CREAT, O_TMPFILE) with an execute bit in its mode,
//     as Falco's.
//   - proc.env is the environment exec gave the process, read from
//     /proc/<pid>/environ the first time a rule asks (the exec event
//     does not carry it): not available from a capture file, or once the
//     process has exited. proc.env[NAME] is one variable's value, ""
//     when it is unset (as Falco).
//   - evt.buffer is never available: vigil's drivers do not capture I/O
//     data. It compiles (upstream rules use it), with a warning, and every
//     comparison on it is false.
//   - fd.nameraw (and fs.path.nameraw of the open family) is the path as
//     the program passed it, from the open family's entry event; without
//     that event (lost, or a capture's snapshot) it is the exit event's
//     path before cleaning ("../" kept). Repeated slashes are folded, as
//     Falco does. fds seeded from /proc have none: not available.
//   - evt.arg.NAME and evt.arg[N] render the parameter as text, with the
//     symbolic names of Falco's flag tables, in their order, wherever
//     Falco prints them (args.go): open flags (O_RDONLY|O_CLOEXEC), chmod
//     modes (S_IXUSR|...|S_ISUID), clone/unshare/setns CLONE_*, mount,
//     umount2, unlinkat, linkat, renameat2, memfd_create, openat2 resolve,
//     dup3/pipe2 and finit_module flags, exec flags EXE_*, socket domain
//     AF_*, ptrace request PTRACE_*, bpf command BPF_*, and the ids of the
//     set*id calls as account names (<NA> unknown, <NONE> for -1). Bits
//     without a name are left out; a value without any name prints as a
//     number. evt.rawarg.NAME is the raw value. A NAME no event has is a
//     compile error; Falco's "flags" of execve/execveat is vigil's
//     exe_flags.
package fields

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/state"
	"github.com/vigil-dev/vigil/internal/editdist"
)

// Type is the type of a field's value.
type Type uint8

// Field types. The numeric ones all travel in Value.N.
const (
	String     Type = iota + 1
	Int64           // signed integer
	Uint64          // unsigned integer (stored in Value.N; literals must not be negative)
	Bool            // true/false
	IPAddr          // an IP address (Value.IP)
	IPNet           // an IP address compared against networks (literals are CIDR prefixes)
	Port            // a TCP/UDP port
	RelTime         // a duration in nanoseconds
	AbsTime         // nanoseconds since the epoch
	StringList      // a list of strings (Value.L)
)

var typeNames = [...]string{String: "string", Int64: "int64", Uint64: "uint64", Bool: "bool",
	IPAddr: "ipaddr", IPNet: "ipnet", Port: "port", RelTime: "reltime", AbsTime: "abstime", StringList: "list"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "invalid"
}

// Numeric reports whether values of t are integers in Value.N.
func (t Type) Numeric() bool {
	switch t {
	case Int64, Uint64, Port, RelTime, AbsTime:
		return true
	}
	return false
}

// ArgKind says what a field takes between brackets.
type ArgKind uint8

// Argument kinds.
const (
	ArgNone  ArgKind = iota // no argument
	ArgIndex                // a number: proc.aname[2]
	ArgKey                  // a name: container.label[app]
)

// Value is an extracted value. Which member holds it depends on the
// field's Type.
type Value struct {
	S  string
	N  int64
	B  bool
	IP netip.Addr
	L  []string
}

// Field is one entry of the registry.
type Field struct {
	Name string
	Type Type
	Desc string
	Arg  ArgKind
	// ArgRequired: the argument must be given. Otherwise a field with an
	// argument kind may be used bare (proc.aname).
	ArgRequired bool
	// Multi: used without argument, the field has several candidate
	// values and a comparison matches if any does (filter only).
	Multi bool
	// FilterOnly fields cannot be printed in outputs (in their Multi form).
	FilterOnly bool
	// Never, when set, says why vigil never has a value for the field:
	// it binds, and outputs print <NA>, but a condition on it could only
	// ever be false (or true under not). The rule compiler rejects such
	// a condition when Reject is set, and warns about it otherwise.
	Never  string
	Reject bool
	// Source is the event source the field reads: "" for the syscall
	// source; other sources register theirs with Register.
	Source string

	ext func(c *Ctx, b *Bound, v *Value) bool
	// domainIP: a domain field's address (see MatchDomain).
	domainIP func(c *Ctx) (netip.Addr, bool)
	multi    func(c *Ctx, b *Bound, i int, v *Value) (ok, more bool)
	// prefix fields take their argument after a dot (evt.arg.NAME).
	prefix bool
	bind   func(b *Bound) error
}

// Bound is a field reference resolved against the registry: the field plus
// its parsed argument. It is what the rule compiler keeps.
type Bound struct {
	*Field
	Text   string // as written, e.g. "proc.aname[2]", "evt.arg.flags"
	Arg    string
	HasArg bool
	Index  int
	// Multi is set when this reference iterates candidates (see Field.Multi).
	Multi bool

	typ   Type
	param [driver.EvTypeMax]int8 // evt.arg.NAME: parameter index per event type, -1 none
}

// Type returns the type of the bound field's values (evt.rawarg's depends on
// the parameter).
func (b *Bound) Type() Type { return b.typ }

var registry = map[string]*Field{}
var prefixFields []*Field

func add(fs ...*Field) {
	for _, f := range fs {
		if f.prefix {
			prefixFields = append(prefixFields, f)
			continue
		}
		if _, dup := registry[f.Name]; dup {
			panic("fields: duplicate field " + f.Name)
		}
		registry[f.Name] = f
	}
}

// All returns every registered field, sorted by name. Fields taking a
// name after a dot (evt.arg.NAME) are listed with their prefix.
func All() []*Field {
	out := make([]*Field, 0, len(registry)+len(prefixFields))
	for _, f := range registry {
		out = append(out, f)
	}
	out = append(out, prefixFields...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Extractor extracts a field of another source from c.Ext into v; it
// reports false when the value is not available. Strings it returns must
// stay valid until the next extraction on c.
type Extractor func(c *Ctx, b *Bound, v *Value) bool

// Register adds the fields of an event source other than syscall (for
// example engine/k8saudit's ka.* and jevt.*): f describes the field (Name,
// Type, Desc, Arg, ArgRequired), ext reads it from Ctx.Ext. Rules of that
// source may name only its fields, and rules of other sources not these.
// Call it from an init function: the registry is not locked.
func Register(source string, f Field, ext Extractor) {
	if source == "" || source == "syscall" {
		panic("fields: Register is for sources other than syscall")
	}
	f.Source, f.ext = source, ext
	f.Multi, f.multi, f.prefix, f.bind = false, nil, false, nil
	add(&f)
}

// SourceOf returns the source a field belongs to: "syscall" or the name
// given to Register.
func (f *Field) SourceOf() string {
	if f.Source == "" {
		return "syscall"
	}
	return f.Source
}

// Sources returns the event sources with registered fields, sorted.
func Sources() []string {
	seen := map[string]bool{"syscall": true}
	out := []string{"syscall"}
	for _, f := range registry {
		if s := f.SourceOf(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// never is a field vigil has no data for, ever (see Field.Never): it
// binds, outputs print <NA>, and the rule compiler rejects conditions on
// it rather than let them be silently false.
func never(name string, t Type, desc, why string) *Field {
	return &Field{Name: name, Type: t, Desc: desc + " (not available: " + why + ")", Never: why, Reject: true,
		ext: func(*Ctx, *Bound, *Value) bool { return false }}
}

// Syntax returns how the field is written in a rule: proc.name,
// evt.arg[N] (its argument required), proc.aname, proc.aname[N] (optional),
// container.label[KEY], evt.arg.NAME.
func (f *Field) Syntax() string {
	if f.prefix {
		return f.Name + ".NAME"
	}
	arg := ""
	switch f.Arg {
	case ArgIndex:
		arg = f.Name + "[N]"
	case ArgKey:
		arg = f.Name + "[KEY]"
	default:
		return f.Name
	}
	if f.ArgRequired {
		return arg
	}
	return f.Name + ", " + arg
}

// Lookup returns the field of that exact name (without argument).
func Lookup(name string) (*Field, bool) {
	f, ok := registry[name]
	return f, ok
}

// Error is a problem binding a field reference; Hint says how to fix it.
type Error struct {
	Msg, Hint string
}

func (e *Error) Error() string {
	if e.Hint != "" {
		return e.Msg + " (" + e.Hint + ")"
	}
	return e.Msg
}

// Bind resolves a field reference as written in a rule: name, and the
// argument between brackets when hasArg. Errors are *Error with a hint
// ("did you mean ...").
func Bind(name, arg string, hasArg bool) (*Bound, error) {
	f, ok := registry[name]
	b := &Bound{Text: name, Arg: arg, HasArg: hasArg}
	if hasArg {
		b.Text += "[" + arg + "]"
	}
	if !ok {
		for _, pf := range prefixFields {
			if strings.HasPrefix(name, pf.Name+".") && len(name) > len(pf.Name)+1 {
				if hasArg {
					return nil, &Error{Msg: fmt.Sprintf("field '%s' takes no [argument]", pf.Name+".NAME"), Hint: "write " + name}
				}
				b.Field, b.Arg = pf, name[len(pf.Name)+1:]
				b.typ = pf.Type
				if err := pf.bind(b); err != nil {
					return nil, err
				}
				return b, nil
			}
		}
		return nil, unknown(name)
	}
	b.Field, b.typ = f, f.Type
	switch {
	case hasArg && f.Arg == ArgNone:
		return nil, &Error{Msg: fmt.Sprintf("field '%s' takes no argument", name), Hint: "remove [" + arg + "]"}
	case !hasArg && f.ArgRequired:
		what := "an index, e.g. " + name + "[1]"
		if f.Arg == ArgKey {
			what = "a key, e.g. " + name + "[name]"
		}
		return nil, &Error{Msg: fmt.Sprintf("field '%s' needs an argument", name), Hint: "give it " + what}
	case hasArg && f.Arg == ArgIndex:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return nil, &Error{Msg: fmt.Sprintf("field '%s': argument '%s' is not an index", name, arg), Hint: "use a number >= 0, e.g. " + name + "[1]"}
		}
		b.Index = n
	case hasArg && f.Arg == ArgKey && arg == "":
		return nil, &Error{Msg: fmt.Sprintf("field '%s': empty argument", name), Hint: "give a key between the brackets"}
	case !hasArg && f.Multi:
		b.Multi = true
	}
	if f.bind != nil {
		if err := f.bind(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func unknown(name string) error {
	e := &Error{Msg: fmt.Sprintf("unknown field '%s'", name)}
	if s := Suggest(name); s != "" {
		e.Hint = "did you mean '" + s + "'?"
		return e
	}
	e.Hint = "`vigil rules fields` lists every field"
	if class, _, ok := strings.Cut(name, "."); ok {
		for n := range registry {
			if strings.HasPrefix(n, class+".") {
				e.Hint = "`vigil rules fields " + class + ".` lists the " + class + " fields"
				break
			}
		}
	}
	return e
}

// Suggest returns the registered field name closest to name, or "" when
// none is close.
func Suggest(name string) string {
	best, bestD := "", 1<<30
	for n := range registry {
		d := editdist.Distance(name, n)
		if d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	limit := len(name)/3 + 1
	if limit > 4 {
		limit = 4
	}
	if bestD <= limit {
		return best
	}
	// A known class with an unknown member: suggest by member name.
	return ""
}

// DNS tells which of the domain names the rules mention resolve to an
// address (dns.Cache).
type DNS interface {
	Has(name string, ip netip.Addr) bool
	NameOf(ip netip.Addr) string
}

// UserDB resolves user and group ids to accounts.
type UserDB interface {
	User(uid uint32) (state.User, bool)
	Group(gid uint32) (state.Group, bool)
}

// Ctx is what extractors read: one event and the state around it. The
// engine fills the exported members for each event, calls Reset, and then
// extracts; a Ctx is reused from event to event so extraction allocates
// nothing.
type Ctx struct {
	Event *driver.Event
	// Thread is the event's thread after the state update for the event;
	// nil when unknown (every proc.*, thread.*, fd.*, user.* field is then
	// not available).
	Thread *state.Thread
	// Container is the metadata of the container of Thread's process (nil
	// for the host or when the resolver has nothing yet).
	Container *container.Info
	// Users resolves user and group names; nil: names not available.
	Users UserDB
	// Parent returns a process's parent, or nil (lookup by PPID in the
	// thread table). nil: no ancestor fields.
	Parent func(*state.Process) *state.Process
	// Env returns a process's environment (state.Threads.Env). nil:
	// proc.env is not available.
	Env func(*state.Process) ([]string, bool)
	// DNS answers fd.*ip.name; nil: no address has a name.
	DNS DNS
	// Syscalls names generic events; nil: they are named "syscall".
	Syscalls *driver.SyscallTable
	// Clock turns event timestamps into wall time.
	Clock driver.Clock
	// Hostname is evt.hostname.
	Hostname string
	// Num is evt.num, the event's sequence number.
	Num uint64
	// Ext is the event of another source than syscall (Event is nil
	// then): what that source's extractors read (see Register).
	Ext any
	// ExtTime is when Ext happened, the time of its alerts.
	ExtTime time.Time

	vals [2]Value
	buf  []byte // scratch, reset per extraction

	fdDone bool
	fd     *state.FD
	tmpFD  state.FD
	fdBuf  []byte
	ip4    [2][4]byte
	ip6    [2][16]byte

	anc    [16]*state.Process
	nanc   int // ancestors cached in anc (anc[0] is the process)
	ancEnd bool
	list   [24]string
}

// Reset forgets what was cached for the previous event. Call it after
// filling the Ctx for a new event.
func (c *Ctx) Reset() {
	c.fdDone, c.fd = false, nil
	c.nanc, c.ancEnd = 0, false
	c.buf = c.buf[:0]
	c.fdBuf = c.fdBuf[:0]
}

// ResetScratch recycles the scratch buffer: strings extracted before are
// invalid afterwards. The rule engine calls it before each comparison.
func (c *Ctx) ResetScratch() { c.buf = c.buf[:0] }

// str returns the bytes c.buf[start:] as a string without copying.
func (c *Ctx) str(start int) string {
	if len(c.buf) == start {
		return ""
	}
	return unsafe.String(&c.buf[start], len(c.buf)-start)
}

func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Extract extracts b into value slot 0 or 1 of c (two slots so that a
// comparison can hold both sides). It reports false when the value is not
// available. Multi references extract their first candidate.
func (b *Bound) Extract(c *Ctx, slot int) (*Value, bool) {
	v := &c.vals[slot&1]
	*v = Value{}
	if b.Multi {
		ok, _ := b.multi(c, b, 0, v)
		return v, ok
	}
	return v, b.ext(c, b, v)
}

// ExtractNth extracts candidate i of a Multi reference into slot; more is
// false after the last candidate.
func (b *Bound) ExtractNth(c *Ctx, slot, i int) (v *Value, ok, more bool) {
	v = &c.vals[slot&1]
	*v = Value{}
	if !b.Multi {
		return v, i == 0 && b.ext(c, b, v), false
	}
	ok, more = b.multi(c, b, i, v)
	return v, ok, more
}

// AppendText appends v as outputs print it.
func AppendText(dst []byte, t Type, v *Value) []byte {
	switch t {
	case String:
		return append(dst, v.S...)
	case Bool:
		return strconv.AppendBool(dst, v.B)
	case IPAddr, IPNet:
		return v.IP.AppendTo(dst)
	case Uint64, AbsTime:
		return strconv.AppendUint(dst, uint64(v.N), 10)
	case StringList:
		dst = append(dst, '(')
		for i, s := range v.L {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, s...)
		}
		return append(dst, ')')
	}
	return strconv.AppendInt(dst, v.N, 10)
}

// Typed returns v as a value for JSON outputs: string, int64, uint64,
// bool or []string; strings are copied.
func Typed(t Type, v *Value) any {
	switch t {
	case String:
		return strings.Clone(v.S)
	case Bool:
		return v.B
	case IPAddr, IPNet:
		return v.IP.String()
	case Uint64, AbsTime:
		return uint64(v.N)
	case StringList:
		out := make([]string, len(v.L))
		for i, s := range v.L {
			out[i] = strings.Clone(s)
		}
		return out
	}
	return v.N
}

// unsafeBytes views s as bytes; the callee must not write to them.
func unsafeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
