// The status page: start a goal's run, watch its progress by polling get-status every 2 s,
// cancel it, retry the failed actions of a finished run, and list the goal's runs.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
let token = null;
let goals = [];
let executionArn = null;
let poller = null;
let polls = 0; // bumped whenever polling stops, so an answer to an earlier poll is dropped
let runsCursor = null; // where the next page of the goal's runs starts; null after the last
const RUNS_PER_PAGE = 10;

async function api(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || { message: body.message || response.statusText };
    const failure = new Error(`${response.status} ${error.code || ""} ${error.message}`.trim());
    failure.status = response.status;
    throw failure;
  }
  return body;
}

async function signIn() {
  const user = encodeURIComponent($("user").value.trim());
  token = (await (await fetch(`/local/token?user=${user}`)).json()).token;
  await listGoals();
  showGoal();
}

async function listGoals() {
  const chosen = $("goal").value;
  goals = await api("GET", "/local/goals");
  $("goal").replaceChildren(
    ...goals.map((g) => new Option(`${g.goalId} (${g.label}, ${g.status})`, g.goalId)),
  );
  if (chosen) $("goal").value = chosen;
}

// Shows the chosen goal's latest run, if it has one: a reload or a return to the goal resumes it.
function showGoal() {
  stopPolling();
  executionArn = null;
  $("run").hidden = true;
  $("failures").hidden = true;
  $("start").disabled = false;
  const goal = goals.find((g) => g.goalId === $("goal").value);
  if (goal && goal.currentExecutionArn) watch(goal.currentExecutionArn);
  act(() => listRuns(false));
}

// The chosen goal (its status, actions and tasks) and its runs, newest first: the first page, or
// with `more` the page after those listed.
async function listRuns(more) {
  const goalId = $("goal").value;
  if (!goalId) return;
  const path = `/api/goals/${encodeURIComponent(goalId)}`;
  const cursor = more && runsCursor ? `&cursor=${encodeURIComponent(runsCursor)}` : "";
  const [goal, page] = await Promise.all([
    api("GET", path),
    api("GET", `${path}/executions?limit=${RUNS_PER_PAGE}${cursor}`),
  ]);
  if (goalId !== $("goal").value) return;
  $("summary").textContent =
    `${goal.status} · ${goal.actions.length} actions · ${goal.taskCount} tasks`;
  const rows = page.executions.map(runRow);
  if (more) $("runs").append(...rows);
  else $("runs").replaceChildren(...rows);
  runsCursor = page.nextCursor;
  $("more").hidden = !runsCursor;
  const before = new Date(page.olderRuns.startedBefore).toISOString().slice(0, 10);
  // Where the archive lies is for operators; the page only says that older runs are kept there.
  $("older").textContent = `Runs started before ${before} are kept in the archive.`;
  $("history").hidden = false;
}

// What a run's status means to its user: one that ended SUCCEEDED with failed actions is a
// partial run, not a success.
function outcome(run) {
  if (run.status === "SUCCEEDED" && (run.failedCount || 0) > 0) return { label: "PARTIAL", tone: "partial" };
  if (run.status === "SUCCEEDED") return { label: "SUCCEEDED", tone: "succeeded" };
  if (run.status === "ABORTED") return { label: "ABORTED", tone: "aborted" };
  if (FINAL.includes(run.status)) return { label: run.status, tone: "failed" };
  return { label: run.status, tone: "running" };
}

function runRow(run) {
  const notes = [
    run.retryOf ? "retry" : "",
    run.canRetry ? "can be retried" : "",
    run.archived ? "archived" : "",
  ];
  const cells = [
    new Date(run.startedAt).toLocaleString(),
    outcome(run).label,
    `${run.processedActions}/${run.totalActions}`,
    String(run.failedCount),
    notes.filter(Boolean).join(", "),
  ];
  const row = document.createElement("tr");
  row.dataset.executionArn = run.executionArn;
  row.replaceChildren(...cells.map((text) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    return cell;
  }));
  return row;
}

function show(view) {
  const done = view.processedActions || 0;
  const total = view.totalActions || 0;
  const percent = view.progressPercent || 0;
  $("run").hidden = false;
  $("fill").style.width = `${percent}%`;
  $("percent").textContent = `${percent} %`;
  document.querySelector(".bar").setAttribute("aria-valuenow", percent);
  const { label, tone } = outcome(view);
  $("status").textContent = label;
  $("run").dataset.tone = tone;
  const failedCount = view.failedCount || 0;
  $("counts").textContent = `${done}/${total} actions` + (failedCount ? `, ${failedCount} failed` : "");
  const finished = FINAL.includes(view.status);
  $("outcome").textContent = tone !== "partial" ? ""
    : `${failedCount} of ${total} actions failed and have no tasks. `
      + (view.canRetry ? "Retry them below; the others keep their tasks." : "Start the goal again to process them.");
  const eta = view.estimatedSecondsRemaining;
  $("eta").textContent = finished ? "done" : eta == null ? "estimating…" : `about ${eta} s left`;
  $("cancel").disabled = finished;
  $("start").disabled = !finished;
  const failed = view.failedActions || [];
  $("failures").hidden = !(finished && failed.length > 0 && view.status !== "ABORTED");
  $("retry").hidden = !view.canRetry;
  $("failed").replaceChildren(
    ...failed.map((f) => {
      const item = document.createElement("li");
      item.textContent = `${f.actionId} `;
      const why = document.createElement("code");
      why.textContent = f.error;
      item.append(why);
      return item;
    }),
  );
}

function stopPolling() {
  polls += 1;
  clearTimeout(poller);
  poller = null;
}

// Polls the run's status every 2 s, one request at a time, until it has ended. An expired token
// is renewed; a run the caller cannot see (404) stops the polling.
function watch(arn) {
  stopPolling();
  executionArn = arn;
  $("run").dataset.executionArn = arn;
  $("message").textContent = "";
  const current = polls;
  const tick = async () => {
    try {
      const view = await api("GET", `/api/workflows/${encodeURIComponent(arn)}/status`);
      if (current !== polls) return;
      show(view);
      if (FINAL.includes(view.status)) {
        await act(listGoals);
        return act(() => listRuns(false));
      }
    } catch (e) {
      if (current !== polls) return;
      $("message").textContent = e.message;
      if (e.status === 401) return act(signIn);
      if (e.status === 404) return;
    }
    poller = setTimeout(tick, 2000);
  };
  tick();
}

async function act(action) {
  try {
    await action();
  } catch (e) {
    $("message").textContent = e.message;
  }
}

$("start").addEventListener("click", () => act(async () => {
  const goal = $("goal").value;
  if (!goal || !confirm(`Start the activity for ${goal}? Tasks will be generated for every action.`)) return;
  $("start").disabled = true;
  try {
    const started = await api("POST", `/api/goals/${encodeURIComponent(goal)}/start-activity`);
    watch(started.executionArn);
    await listRuns(false);
  } catch (e) {
    $("start").disabled = false;
    throw e;
  }
}));

$("cancel").addEventListener("click", () => act(async () => {
  if (!confirm("Cancel this run? Tasks it already wrote are removed.")) return;
  show(await api("POST", `/api/workflows/${encodeURIComponent(executionArn)}/cancel`));
}));

$("retry").addEventListener("click", () => act(async () => {
  $("retry").disabled = true;
  const retried = await api("POST", `/api/workflows/${encodeURIComponent(executionArn)}/retry`)
    .finally(() => { $("retry").disabled = false; });
  $("failures").hidden = true;
  watch(retried.executionArn);
  await listRuns(false);
}));

$("more").addEventListener("click", () => act(() => listRuns(true)));

$("goal").addEventListener("change", showGoal);
$("user").addEventListener("change", () => act(signIn));
act(signIn);
