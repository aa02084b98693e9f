package nratest;

/**
 * The hook the corpus test inserts into every instance method. The corpus
 * classes are only linked, never run; FixtureCheck runs the rewritten unit
 * test fixtures and counts the calls.
 */
public final class CorpusHook {
    public static int hits;

    private CorpusHook() {}

    public static void hit(Object o) {
        if (o == null)
            throw new AssertionError("hook called without `this`");
        hits++;
    }
}
