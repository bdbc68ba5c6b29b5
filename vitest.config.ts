import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/*
 * The longest test files, longest first (measured one by one: worker processes, CLI runs and
 * timed drills). Without earlier results (a clean clone, as in CI) vitest starts the biggest files
 * first, and these are small files: they came last, and one fork ran them alone while the other
 * had finished. Started first, the short files fill in around them on both forks.
 */
const LONGEST = [
  'test/integration/cli-send.test.ts',
  'test/faults/domain-pacing.test.ts',
  'test/faults/unknown-deliveries.test.ts',
  'test/integration/cli.test.ts',
  'test/integration/delivery-crash.test.ts',
  'test/faults/missed-schedule.test.ts',
  'test/faults/graceful-shutdown.test.ts',
  'test/bench/bench-processes.test.ts',
  'test/integration/redis-cluster.test.ts',
  'test/faults/database-loss.test.ts',
  'test/integration/delivery-faults.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const i = LONGEST.findIndex((name) => file.moduleId.endsWith(`/${name}`));
      return i === -1 ? LONGEST.length : i;
    };
    // Array sort is stable: the other files keep vitest's own order after these.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: more forks than that only adds contention.
    maxWorkers: 2,
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
  },
});
