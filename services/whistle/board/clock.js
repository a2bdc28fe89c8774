// The page's clock, and what is due next for a department.

let offset = 0;   // server clock minus this screen's clock, in ms, when they clearly disagree

/** Learns the server's clock from an answer's Date header (whole seconds: a skew under 2 s is ignored). */
export function observeServerDate(header) {
  const server = Date.parse(header || "");
  if (Number.isNaN(server)) return;
  const skew = server + 500 - Date.now();
  offset = Math.abs(skew) > 2000 ? skew : 0;
}

export function now() {
  return Date.now() + offset;
}

// the step a call-out owes next, by its status, and the deadline of that step
const NEXT = {
  issued: ["check_in", "check_in_by"],
  checked_in: ["arrival", "arrival_by"],
  arrived: ["completion", "completion_by"],
};

/** {step, due} of the step a call-out owes next, or null when it owes none (completed, returned). */
export function nextDeadline(callout) {
  const next = NEXT[callout.status];
  if (!next) return null;
  return { step: next[0], due: callout[next[1]] };
}

export function isOverdue(callout, at = now()) {
  const next = nextDeadline(callout);
  return next !== null && Date.parse(next.due) <= at;
}
