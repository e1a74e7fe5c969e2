// The status page: start a goal's run, watch its progress by polling get-status every 2 s,
// cancel it, and retry the failed actions of a finished run.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
let token = null;
let goals = [];
let executionArn = null;
let poller = null;

async function api(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || { message: body.message || response.statusText };
    throw new Error(`${response.status} ${error.code || ""} ${error.message}`.trim());
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
}

function show(view) {
  const done = view.processedActions || 0;
  const total = view.totalActions || 0;
  const percent = view.progressPercent || 0;
  $("run").hidden = false;
  $("fill").style.width = `${percent}%`;
  $("percent").textContent = `${percent} %`;
  document.querySelector(".bar").setAttribute("aria-valuenow", percent);
  $("status").textContent = view.status;
  const failedCount = view.failedCount || 0;
  $("counts").textContent = `${done}/${total} actions` + (failedCount ? `, ${failedCount} failed` : "");
  const finished = FINAL.includes(view.status);
  const eta = view.estimatedSecondsRemaining;
  $("eta").textContent = finished ? "done" : eta == null ? "estimating…" : `about ${eta} s left`;
  $("cancel").disabled = finished;
  $("start").disabled = !finished;
  const failed = view.failedActions || [];
  $("failures").hidden = !(finished && failed.length > 0 && view.status !== "ABORTED");
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
  if (finished && poller) {
    stopPolling();
    act(listGoals);
  }
}

function stopPolling() {
  clearInterval(poller);
  poller = null;
}

async function poll() {
  const arn = executionArn;
  try {
    const view = await api("GET", `/api/workflows/${encodeURIComponent(arn)}/status`);
    if (arn === executionArn) show(view);
  } catch (e) {
    $("message").textContent = e.message;
  }
}

function watch(arn) {
  executionArn = arn;
  $("run").dataset.executionArn = arn;
  $("message").textContent = "";
  stopPolling();
  poll();
  poller = setInterval(poll, 2000);
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
  const started = await api("POST", `/api/goals/${encodeURIComponent(goal)}/start-activity`);
  watch(started.executionArn);
}));

$("cancel").addEventListener("click", () => act(async () => {
  if (!confirm("Cancel this run? Tasks it already wrote are removed.")) return;
  show(await api("POST", `/api/workflows/${encodeURIComponent(executionArn)}/cancel`));
}));

$("retry").addEventListener("click", () => act(async () => {
  const retried = await api("POST", `/api/workflows/${encodeURIComponent(executionArn)}/retry`);
  $("failures").hidden = true;
  watch(retried.executionArn);
}));

$("goal").addEventListener("change", showGoal);
$("user").addEventListener("change", () => act(signIn));
act(signIn);
