/**
 * The SET list of a partial update: the columns that were given a value (undefined leaves a
 * column as it is), as `a = $2, b = $3` with $1 left for the row's id. Column names come from the
 * route's own code, never from the request.
 */
export function setClause(cols: Record<string, unknown>): { sql: string; values: unknown[]; columns: string[] } {
  const set = Object.entries(cols).filter(([, v]) => v !== undefined);
  return {
    sql: set.map(([k], i) => `${k} = $${i + 2}`).join(', '),
    values: set.map(([, v]) => v),
    columns: set.map(([k]) => k),
  };
}
