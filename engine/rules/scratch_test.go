package rules
import ("testing";"fmt")
func TestScratch(t *testing.T){
 for _, s := range []string{"a and b or not c and (d or e)", "proc.name in (a, 'b c', /x) and fd.num>=0 and proc.aname[2]=x", "tolower(proc.name) = val(proc.pname) and x.y exists", "a = ", "a.b = (x", "fd.name = 'x", "a and and", "proc.cmdline= \"sh -s unix:cmd\"", "x in (runc:[0:PARENT], b)"} {
   n, err := ParseCondition(s)
   if err != nil { fmt.Println(s, "=> ERR", err); continue }
   fmt.Println(s, "=>", n.String())
 }
}
