import { activityScore } from './activity';

test('the activity score follows its documented formula', () => {
  expect(activityScore(null, 10, 0)).toBe(0); // never active
  expect(activityScore(0, 0, 0)).toBe(1); // active today, no runs to judge
  expect(activityScore(0, 10, 10)).toBe(0.5); // active today, every run failed
  expect(activityScore(7, 4, 1)).toBeCloseTo(0.5 * (0.5 + 0.5 * 0.75), 10);
  expect(activityScore(14, 10, 0)).toBe(0);
  expect(activityScore(40, 10, 0)).toBe(0); // clamped, never negative
});
