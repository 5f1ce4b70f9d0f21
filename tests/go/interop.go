// Interop checks with the Go client github.com/samuel/go-zookeeper (Debian's
// golang-github-samuel-go-zookeeper-dev), the client most Go services were written against.
// Run by tests/java/run.py against zkr and against Apache ZooKeeper (the reference): every
// check must pass on both. Built in GOPATH mode:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o interop tests/go/interop.go
//	./interop HOSTS
//	./interop HOSTS PORT=PID,...    (a 3-server ensemble: see failover)
//
// Prints one "PASS go: <check>" or "FAIL go: <check>: <detail>" line per check and exits 1 if
// any failed.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

var passed, failed int

// label prefixes every check's name: "go", or "go-failover".
var label = "go"

func check(name string, ok bool, detail string) {
	if ok {
		passed++
		fmt.Printf("PASS %s: %s\n", label, name)
	} else {
		failed++
		fmt.Printf("FAIL %s: %s: %s\n", label, name, detail)
	}
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
		failover(hosts, os.Args[2])
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

	// Clean up, deepest first.
	var del func(string) error
	del = func(p string) error {
		kids, _, err := c1.Children(p)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := del(p + "/" + k); err != nil {
				return err
			}
		}
		return c1.Delete(p, -1)
	}
	err = del(root)
	gone, _, _ := c2.Exists(root)
	check("the tree is deleted", err == nil && !gone, fmt.Sprint(err))

	c1.Close()
	c2.Close()
	fmt.Printf("go: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
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
