// Interop checks with the Go client github.com/samuel/go-zookeeper (Debian's
// golang-github-samuel-go-zookeeper-dev), the client most Go services were written against.
// Run by tests/java/run.py against zkr and against Apache ZooKeeper (the reference): every
// check must pass on both. Built in GOPATH mode:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o interop tests/go/interop.go
//	./interop HOSTS
//	./interop HOSTS PORT=PID,...    (a 3-server ensemble: see failover)
//	./interop HOSTS pause           (a lock holder paused past its session timeout: see pause;
//	                                 it runs a copy of itself as "./interop HOSTS pause-holder ROOT")
//
// Prints one "PASS go: <check>" or "FAIL go: <check>: <detail>" line per check (go-failover:,
// go-pause: in those modes) and exits 1 if any failed.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

var passed, failed int

// label prefixes every check's name: "go", "go-failover" or "go-pause".
var label = "go"

func check(name string, ok bool, detail string) bool {
	if ok {
		passed++
		fmt.Printf("PASS %s: %s\n", label, name)
	} else {
		failed++
		fmt.Printf("FAIL %s: %s: %s\n", label, name, detail)
	}
	return ok
}

type quiet struct{}

func (quiet) Printf(string, ...interface{}) {}

var acl = zk.WorldACL(zk.PermAll)

// connect opens a session and waits until it is established.
func connect(hosts []string) (*zk.Conn, error) {
	c, events, err := zk.Connect(hosts, 10*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		return nil, err
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-events:
			if e.State == zk.StateHasSession {
				// Drain the session's later events in the background.
				go func() {
					for range events {
					}
				}()
				return c, nil
			}
		case <-deadline:
			c.Close()
			return nil, errors.New("no session within 20 s")
		}
	}
}

// twoSessions connects two clients; the program stops if either cannot.
func twoSessions(hosts []string) (*zk.Conn, *zk.Conn) {
	var cs [2]*zk.Conn
	for i := range cs {
		c, err := connect(hosts)
		if err != nil {
			check("connect", false, err.Error())
			os.Exit(1)
		}
		cs[i] = c
	}
	return cs[0], cs[1]
}

// event waits up to 10 s for one watch event.
func event(ch <-chan zk.Event) (zk.Event, bool) {
	select {
	case e := <-ch:
		return e, true
	case <-time.After(10 * time.Second):
		return zk.Event{}, false
	}
}

func main() {
	hosts := strings.Split(os.Args[1], ",")
	if len(os.Args) > 2 {
		switch os.Args[2] {
		case "pause":
			pause(hosts)
		case "pause-holder":
			holder(hosts, os.Args[3])
		default:
			failover(hosts, os.Args[2])
		}
		return
	}
	root := fmt.Sprintf("/go-%x", time.Now().UnixNano()&0xffffff)
	c1, c2 := twoSessions(hosts)
	check("two sessions connect", c1.SessionID() != 0 && c2.SessionID() != 0 && c1.SessionID() != c2.SessionID(),
		fmt.Sprintf("%x %x", c1.SessionID(), c2.SessionID()))

	p, err := c1.Create(root, []byte("root"), 0, acl)
	data, st, gerr := c1.Get(root)
	check("create and get", err == nil && p == root && gerr == nil && string(data) == "root" && st.Version == 0 && st.DataLength == 4,
		fmt.Sprintf("%v %v %s %+v", err, gerr, data, st))

	_, err = c1.Create(root, nil, 0, acl)
	check("create of an existing node: ErrNodeExists", err == zk.ErrNodeExists, fmt.Sprint(err))

	st1, err := c1.Set(root, []byte("v1"), 0)
	_, err2 := c1.Set(root, []byte("v2"), 0)
	check("set with the right version, then a stale one: ErrBadVersion",
		err == nil && st1.Version == 1 && err2 == zk.ErrBadVersion, fmt.Sprint(err, err2))

	seq, err := c1.Create(root+"/s-", []byte("x"), zk.FlagEphemeral|zk.FlagSequence, acl)
	_, sst, serr := c1.Exists(seq)
	check("ephemeral sequential: ten-digit suffix, owned by the session",
		err == nil && regexp.MustCompile(`/s-\d{10}$`).MatchString(seq) && serr == nil && sst.EphemeralOwner == c1.SessionID(),
		fmt.Sprint(seq, err, serr, sst))

	prot, err := c1.CreateProtectedEphemeralSequential(root+"/prot-", []byte("p"), acl)
	check("protected ephemeral sequential", err == nil && strings.Contains(prot, "_c_"), fmt.Sprint(prot, err))

	_, _, ch, err := c1.GetW(root)
	if err == nil {
		_, err = c2.Set(root, []byte("w"), -1)
	}
	e, ok := event(ch)
	check("a data watch fires EventNodeDataChanged", err == nil && ok && e.Type == zk.EventNodeDataChanged && e.Path == root,
		fmt.Sprintf("%v %+v", err, e))

	_, _, ch, err = c1.ChildrenW(root)
	if err == nil {
		_, err = c2.Create(root+"/kid", nil, 0, acl)
	}
	e, ok = event(ch)
	check("a child watch fires EventNodeChildrenChanged", err == nil && ok && e.Type == zk.EventNodeChildrenChanged && e.Path == root,
		fmt.Sprintf("%v %+v", err, e))

	exists, _, ch, err := c1.ExistsW(root + "/later")
	if err == nil {
		_, err = c2.Create(root+"/later", nil, 0, acl)
	}
	e, ok = event(ch)
	check("an exists watch on a missing node fires EventNodeCreated",
		err == nil && !exists && ok && e.Type == zk.EventNodeCreated && e.Path == root+"/later", fmt.Sprintf("%v %+v", err, e))

	kids, _, err := c2.Children(root)
	check("children", err == nil && len(kids) == 4, fmt.Sprint(kids, err))

	rs, err := c1.Multi(
		&zk.CreateRequest{Path: root + "/m", Data: []byte("m"), Acl: acl},
		&zk.SetDataRequest{Path: root + "/m", Data: []byte("m2"), Version: 0},
		&zk.CheckVersionRequest{Path: root, Version: 2},
	)
	data, _, gerr = c1.Get(root + "/m")
	check("multi commits all its operations", err == nil && len(rs) == 3 && gerr == nil && string(data) == "m2",
		fmt.Sprintf("%v %+v %v %s", err, rs, gerr, data))

	rs, err = c1.Multi(
		&zk.CreateRequest{Path: root + "/m-bad", Data: nil, Acl: acl},
		&zk.CheckVersionRequest{Path: root, Version: 42},
	)
	bad, _, _ := c1.Exists(root + "/m-bad")
	check("a failed multi reports the failing op and changes nothing",
		err == zk.ErrBadVersion && len(rs) == 2 && rs[1].Error == zk.ErrBadVersion && !bad, fmt.Sprintf("%v %+v %v", err, rs, bad))

	err = c1.Delete(root, -1)
	err2 = c1.Delete(root+"/m", 5)
	err3 := c1.Delete(root+"/nothing", -1)
	check("delete errors: ErrNotEmpty, ErrBadVersion, ErrNoNode",
		err == zk.ErrNotEmpty && err2 == zk.ErrBadVersion && err3 == zk.ErrNoNode, fmt.Sprint(err, err2, err3))

	big := bytes.Repeat([]byte("z"), 500*1024)
	_, err = c1.Create(root+"/big", big, 0, acl)
	data, _, gerr = c2.Get(root + "/big")
	check("a 500 KB value round-trips", err == nil && gerr == nil && bytes.Equal(data, big), fmt.Sprint(err, gerr, len(data)))

	_, err = c2.Sync(root)
	check("sync", err == nil, fmt.Sprint(err))

	// The lock recipe: a second holder waits until the first unlocks.
	l1 := zk.NewLock(c1, root+"/lock", acl)
	l2 := zk.NewLock(c2, root+"/lock", acl)
	err = l1.Lock()
	got := make(chan error, 1)
	go func() { got <- l2.Lock() }()
	var early bool
	select {
	case <-got:
		early = true
	case <-time.After(300 * time.Millisecond):
	}
	uerr := l1.Unlock()
	var lerr error
	handed := false
	select {
	case lerr = <-got:
		handed = true
	case <-time.After(10 * time.Second):
	}
	check("zk.Lock: exclusive, handed over on unlock", err == nil && !early && uerr == nil && handed && lerr == nil,
		fmt.Sprint(err, early, uerr, handed, lerr))
	if handed {
		l2.Unlock()
	}

	// A closed session's ephemeral node goes, and a watcher sees it go.
	c3, err := connect(hosts)
	if err != nil {
		check("a closed session's ephemeral node goes", false, err.Error())
	} else {
		_, err = c3.Create(root+"/eph", nil, zk.FlagEphemeral, acl)
		var there bool
		var ch <-chan zk.Event
		if err == nil {
			there, _, ch, err = c1.ExistsW(root + "/eph")
		}
		c3.Close()
		var e zk.Event
		ok := false
		if err == nil {
			e, ok = event(ch)
		}
		check("a closed session's ephemeral node goes (EventNodeDeleted)",
			err == nil && there && ok && e.Type == zk.EventNodeDeleted, fmt.Sprintf("%v %v %+v", err, there, e))
	}

	err = deleteTree(c1, root)
	gone, _, _ := c2.Exists(root)
	check("the tree is deleted", err == nil && !gone, fmt.Sprint(err))

	c1.Close()
	c2.Close()
	fmt.Printf("go: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// deleteTree deletes p and everything under it, deepest first.
func deleteTree(c *zk.Conn, p string) error {
	kids, _, err := c.Children(p)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := deleteTree(c, p+"/"+k); err != nil {
			return err
		}
	}
	return c.Delete(p, -1)
}

// mode asks the server on 127.0.0.1:port for its mode (srvr).
func mode(port string) string {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte("srvr"))
	out, _ := io.ReadAll(c)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Mode: ") {
			return strings.TrimSpace(line[len("Mode: "):])
		}
	}
	return ""
}

// failover: the session of a client, its ephemeral node and its watches (set again on the
// server it moves to: setWatches) survive the leader's kill -9. pids names each server's
// client port and process ("PORT=PID,..."); the leader is found with srvr and killed here.
func failover(hosts []string, pids string) {
	label = "go-failover"
	root := fmt.Sprintf("/go-failover-%x", time.Now().UnixNano()&0xffffff)
	c1, c2 := twoSessions(hosts)
	session := c1.SessionID()
	_, err := c1.Create(root, nil, 0, acl)
	if err == nil {
		_, err = c1.Create(root+"/data", []byte("0"), 0, acl)
	}
	if err == nil {
		_, err = c1.Create(root+"/eph", nil, zk.FlagEphemeral, acl)
	}
	var dataW, kidsW, laterW <-chan zk.Event
	if err == nil {
		_, _, dataW, err = c1.GetW(root + "/data")
	}
	if err == nil {
		_, _, kidsW, err = c1.ChildrenW(root)
	}
	if err == nil {
		_, _, laterW, err = c1.ExistsW(root + "/later")
	}
	check("the watcher sets up its nodes and watches", err == nil, fmt.Sprint(err))

	killed := false
	for _, pair := range strings.Split(pids, ",") {
		kv := strings.SplitN(pair, "=", 2)
		if len(kv) != 2 || mode(kv[0]) != "leader" {
			continue
		}
		pid, perr := strconv.Atoi(kv[1])
		killed = perr == nil && syscall.Kill(pid, syscall.SIGKILL) == nil
	}
	check("the leader is found and killed (SIGKILL)", killed, pids)

	start := time.Now()
	var werr error
	wrote := false
	for !wrote && time.Since(start) < 90*time.Second {
		if _, werr = c1.Create(root+"/probe", nil, 0, acl); werr == nil || werr == zk.ErrNodeExists {
			wrote = true
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("the client writes again after the failover", wrote, fmt.Sprint(werr))
	fmt.Printf("go-failover: writes resumed %d ms after the kill\n", time.Since(start).Milliseconds())

	_, st, err := c2.Exists(root + "/eph")
	check("its session and ephemeral node survive", c1.SessionID() == session && err == nil && st != nil && st.EphemeralOwner == session,
		fmt.Sprintf("session %x -> %x, %v %+v", session, c1.SessionID(), err, st))

	_, err = c2.Set(root+"/data", []byte("1"), -1)
	e, ok := event(dataW)
	check("a data watch set before the failover fires after it", err == nil && ok && e.Type == zk.EventNodeDataChanged,
		fmt.Sprintf("%v %+v", err, e))
	_, err = c2.Create(root+"/kid", nil, 0, acl)
	e, ok = event(kidsW)
	check("a child watch set before the failover fires after it", err == nil && ok && e.Type == zk.EventNodeChildrenChanged,
		fmt.Sprintf("%v %+v", err, e))
	_, err = c2.Create(root+"/later", nil, 0, acl)
	e, ok = event(laterW)
	check("an exists watch set before the failover fires after it", err == nil && ok && e.Type == zk.EventNodeCreated,
		fmt.Sprintf("%v %+v", err, e))

	c1.Close()
	c2.Close()
	fmt.Printf("go-failover: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// pause: a lock holder whose process stops (a GC pause, a stopped VM) for longer than its
// session timeout loses the lock to a rival, and learns so when it runs again. The holder is a
// copy of this program (see holder), stopped here with SIGSTOP and continued with SIGCONT; its
// stdout lines say what it saw, and lines on its stdin pace it.
func pause(hosts []string) {
	label = "go-pause"
	rival, err := connect(hosts)
	if err != nil {
		check("the rival connects", false, err.Error())
		os.Exit(1)
	}
	root := fmt.Sprintf("/go-pause-%x", time.Now().UnixNano()&0xffffff)
	if _, err = rival.Create(root, nil, 0, acl); err == nil {
		pauseHolder(hosts, rival, root)
		err = deleteTree(rival, root)
	}
	check("the tree is deleted", err == nil, fmt.Sprint(err))
	rival.Close()
	fmt.Printf("go-pause: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// lowest is the lock node with the lowest sequence number: the lock's holder.
func lowest(kids []string) string {
	min := ""
	for _, k := range kids {
		if min == "" || k[len(k)-10:] < min[len(min)-10:] {
			min = k
		}
	}
	return min
}

// pauseHolder starts the holder under root, stops and continues it, and checks what the rival
// (the connection of this program) and the holder see.
func pauseHolder(hosts []string, rival *zk.Conn, root string) {
	cmd := exec.Command(os.Args[0], strings.Join(hosts, ","), "pause-holder", root)
	// The holder dies with this program, even if this program is killed (run.py's timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	var out io.ReadCloser
	if err == nil {
		out, err = cmd.StdoutPipe()
	}
	if err == nil {
		err = cmd.Start()
	}
	if !check("the holder process starts", err == nil, fmt.Sprint(err)) {
		return
	}
	// Stopped or not, the holder is killed and reaped in all cases.
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			fmt.Printf("go-pause holder: %s\n", s.Text())
			lines <- s.Text()
		}
		close(lines)
	}()
	// next is the rest of the holder's next line that starts with word (others are skipped),
	// or false if none comes within 30 s.
	next := func(word string) (string, bool) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return "the holder exited", false
				}
				if l == word || strings.HasPrefix(l, word+" ") {
					return strings.TrimPrefix(l[len(word):], " "), true
				}
			case <-deadline:
				return "no " + word + " line within 30 s", false
			}
		}
	}

	held, ok := next("HELD")
	var session string
	var timeoutMs int64
	var node string
	if ok {
		_, err = fmt.Sscan(held, &session, &timeoutMs, &node)
	}
	if !check("the holder takes the lock on a short session", ok && err == nil && timeoutMs > 0, held) {
		return
	}
	rl := zk.NewLock(rival, root+"/lock", acl)
	got := make(chan error, 1)
	go func() { got <- rl.Lock() }()
	early := false
	select {
	case <-got:
		early = true
	case <-time.After(300 * time.Millisecond):
	}
	kids, _, err := rival.Children(root + "/lock")
	if !check("while the holder holds the lock, the rival waits (the holder's node is first)",
		!early && err == nil && len(kids) == 2 && lowest(kids) == node, fmt.Sprint(early, kids, err)) {
		return
	}

	// The holder's last word to the server comes just before it stops: a request, as its pings
	// alone are a third of its timeout apart (more on a loaded machine). The server may not
	// expire a session before its timeout has run since its last touch, so the rival may not
	// get the lock before the timeout has run since the request was asked for (a slow machine
	// can only make it later).
	asked := time.Now()
	fmt.Fprintln(in, "touch")
	if touched, ok := next("TOUCHED"); !check("the holder touches its session", ok && touched == "<nil>", touched) {
		return
	}
	err = syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP)
	t0 := time.Now()
	if !check("the holder is stopped (SIGSTOP)", err == nil, fmt.Sprint(err)) {
		return
	}
	took, sinceAsked := time.Duration(-1), time.Duration(-1)
	select {
	case err = <-got:
		took, sinceAsked = time.Since(t0), time.Since(asked)
	case <-time.After(30 * time.Second):
	}
	fmt.Printf("go-pause: the rival got the lock %d ms after SIGSTOP (the holder's session timeout: %d ms)\n",
		took.Milliseconds(), timeoutMs)
	if !check("the rival gets the lock while the holder is stopped", took >= 0 && err == nil, fmt.Sprint(took, err)) {
		return
	}
	check("the rival gets it no earlier than the holder's session timeout after its last request",
		sinceAsked >= time.Duration(timeoutMs)*time.Millisecond, fmt.Sprint(sinceAsked))
	kids, _, err = rival.Children(root + "/lock")
	eph, _, eerr := rival.Exists(root + "/holder-eph")
	check("the holder's lock node and ephemeral node are gone",
		err == nil && len(kids) == 1 && kids[0] != node && eerr == nil && !eph, fmt.Sprint(kids, err, eph, eerr))
	rivals := kids

	err = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	check("the holder is continued (SIGCONT)", err == nil, fmt.Sprint(err))
	line, ok := next("STATE StateExpired")
	if !check("the holder learns its session expired (StateExpired)", ok, line) {
		return
	}
	// Its watch on its ephemeral node ends either way: the expiry's own EventNodeDeleted, when
	// the server wrote it to the stopped holder's socket before closing it (Apache does, now and
	// then), or else EventNotWatching with ErrSessionExpired when the client learns the expiry.
	line, ok = next("WATCH")
	check("the watch it set before the pause ends (EventNodeDeleted, or EventNotWatching with ErrSessionExpired)",
		ok && (line == fmt.Sprint(zk.EventNodeDeleted, " <nil>") || line == fmt.Sprint(zk.EventNotWatching, " ", zk.ErrSessionExpired)),
		line)
	line, ok = next("OLD-CONN")
	check("its old connection: a new session, without the old ephemeral node",
		ok && !strings.HasPrefix(line, session+" ") && strings.HasSuffix(line, " false <nil>"), line)
	line, ok = next("UNLOCK")
	kids, _, err = rival.Children(root + "/lock")
	check("its stale Unlock fails (ErrNoNode) and leaves the rival's node",
		ok && line == zk.ErrNoNode.Error() && err == nil && fmt.Sprint(kids) == fmt.Sprint(rivals), fmt.Sprint(line, kids, err))

	fmt.Fprintln(in, "go")
	fresh, ok := next("FRESH")
	if !check("the holder opens a fresh session", ok && fresh != session, fresh) {
		return
	}
	line, ok = next("BLOCKED")
	check("its new lock waits while the rival holds it", ok, line)
	err = rl.Unlock()
	line, ok = next("REACQUIRED")
	check("the rival unlocks; the holder gets the lock under its new session",
		err == nil && ok && line == fresh+" <nil>", fmt.Sprint(err, line))
	line, ok = next("DONE")
	check("the holder unlocks and closes", ok && line == "<nil>", line)
}

// holder: the lock holder of pause, a process of its own so that it can be stopped. It prints
// what it sees as lines, and waits for a line on stdin before its next step.
func holder(hosts []string, root string) {
	stdin := bufio.NewScanner(os.Stdin)
	step := func() {
		if !stdin.Scan() {
			os.Exit(1) // the parent is gone
		}
	}
	fail := func(what ...interface{}) {
		fmt.Println(append([]interface{}{"ERROR"}, what...)...)
		os.Exit(1)
	}
	// 4000 ms: the shortest session the server allows (twice its tick of 2000 ms).
	conn, events, err := zk.Connect(hosts, 4*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		fail(err)
	}
	// Every session event is printed; the steps below wait for the ones they need.
	states := make(chan zk.State, 64)
	go func() {
		for e := range events {
			if e.Type == zk.EventSession {
				fmt.Println("STATE", e.State)
				states <- e.State
			}
		}
	}()
	await := func(want zk.State) {
		deadline := time.After(60 * time.Second)
		for {
			select {
			case s := <-states:
				if s == want {
					return
				}
			case <-deadline:
				fail("no", want, "within 60 s")
			}
		}
	}

	await(zk.StateHasSession)
	session := conn.SessionID()
	// The library keeps the negotiated timeout to itself.
	timeoutMs := reflect.ValueOf(conn).Elem().FieldByName("sessionTimeoutMs").Int()
	lock := zk.NewLock(conn, root+"/lock", acl)
	err = lock.Lock()
	var kids []string
	if err == nil {
		kids, _, err = conn.Children(root + "/lock")
	}
	if err == nil {
		_, err = conn.Create(root+"/holder-eph", nil, zk.FlagEphemeral, acl)
	}
	var watch <-chan zk.Event
	if err == nil {
		_, _, watch, err = conn.ExistsW(root + "/holder-eph")
	}
	if err != nil || len(kids) != 1 {
		fail(err, kids)
	}
	fmt.Printf("HELD %x %d %s\n", session, timeoutMs, kids[0])
	step()
	_, _, err = conn.Exists(root)
	fmt.Println("TOUCHED", err)

	// Stopped and continued here.
	await(zk.StateExpired)
	e, _ := event(watch)
	fmt.Println("WATCH", e.Type, e.Err)
	// The library does not close the connection of an expired session: it opens a new session
	// on it (after a back-off of a second; a call made in between may fail with ErrNoServer).
	await(zk.StateHasSession)
	there, _, err := conn.Exists(root + "/holder-eph")
	fmt.Printf("OLD-CONN %x %v %v\n", conn.SessionID(), there, err)
	fmt.Println("UNLOCK", lock.Unlock())

	step()
	c2, err := connect(hosts)
	if err != nil {
		fail(err)
	}
	fmt.Printf("FRESH %x\n", c2.SessionID())
	lock2 := zk.NewLock(c2, root+"/lock", acl)
	got := make(chan error, 1)
	go func() { got <- lock2.Lock() }()
	select {
	case err = <-got:
		fail("the lock, while the rival holds it:", err)
	case <-time.After(300 * time.Millisecond):
		fmt.Println("BLOCKED")
	}
	select {
	case err = <-got:
		fmt.Printf("REACQUIRED %x %v\n", c2.SessionID(), err)
	case <-time.After(30 * time.Second):
		fail("no lock within 30 s")
	}
	fmt.Println("DONE", lock2.Unlock())
	c2.Close()
	conn.Close()
}
