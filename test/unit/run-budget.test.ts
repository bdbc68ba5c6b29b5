import { describe, expect, it } from 'vitest';
import { budgetExceeded, DEFAULT_RUN_BUDGET, ratesFromCounts } from '../../src/delivery/run-budget.ts';

describe('run budget (issue #11 item 4)', () => {
  it('measures bounces against attempts and complaints against accepted messages', () => {
    const rates = ratesFromCounts({ queued: 50, sending: 5, skipped: 7, sent: 880, complained: 20, bounced: 60, failed: 30, unknown: 10 });
    expect(rates).toMatchObject({ attempted: 1000, bounced: 60, accepted: 900, complained: 20 });
    expect(rates.bounceRate).toBeCloseTo(0.06, 10);
    expect(rates.complaintRate).toBeCloseTo(20 / 900, 10);
    expect(ratesFromCounts({ queued: 10 })).toMatchObject({ bounceRate: null, complaintRate: null });
  });

  it('waits for the minimum sample, then names the rate that is over', () => {
    expect(budgetExceeded(ratesFromCounts({ sent: 150, bounced: 49 }), DEFAULT_RUN_BUDGET)).toBeUndefined();
    expect(budgetExceeded(ratesFromCounts({ sent: 180, bounced: 20 }), DEFAULT_RUN_BUDGET)).toMatch(/^bounce rate 10\.0% \(20 of 200 attempted\) is over RUN_MAX_BOUNCE_RATE 5\.0%/);
    expect(budgetExceeded(ratesFromCounts({ sent: 190, bounced: 10 }), DEFAULT_RUN_BUDGET)).toBeUndefined();
    expect(budgetExceeded(ratesFromCounts({ sent: 995, complained: 4 }), DEFAULT_RUN_BUDGET)).toBeUndefined();
    expect(budgetExceeded(ratesFromCounts({ sent: 996, complained: 4 }), DEFAULT_RUN_BUDGET)).toMatch(/^complaint rate 0\.40% \(4 of 1000 accepted\) is over RUN_MAX_COMPLAINT_RATE 0\.30%/);
    expect(budgetExceeded(ratesFromCounts({ sent: 997, complained: 3 }), DEFAULT_RUN_BUDGET)).toBeUndefined();
  });
});
