// The PASS/FAIL lines of the interop programs (JavaTls, CuratorInterop, CuratorFailover), which
// tests/java/run.py reads: "PASS <label>: <check>" or "FAIL <label>: <check>: <detail>".

import java.util.ArrayList;
import java.util.List;

final class Checks {
    private final String label;
    private int passed = 0;
    private final List<String> failed = new ArrayList<>();

    Checks(String label) {
        this.label = label;
    }

    void check(String name, boolean ok, String detail) {
        if (ok) {
            passed++;
            System.out.println("PASS " + label + ": " + name);
        } else {
            failed.add(name);
            System.out.println("FAIL " + label + ": " + name + ": " + detail);
        }
        System.out.flush();
    }

    /** Prints the totals and exits: 0 if every check passed, 1 if not. */
    void exit() {
        System.out.println(label + ": " + passed + " passed, " + failed.size() + " failed");
        System.exit(failed.isEmpty() ? 0 : 1);
    }
}
