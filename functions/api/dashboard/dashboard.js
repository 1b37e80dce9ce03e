// The live dashboard: polls the public API and redraws in place (no reload, no framework).
// Reads /health, /sessions, /chargers, /registry/chargers, /chargepoints and /totals; sends the
// API key when one is stored. An operator's buttons send OCPP commands
// (/chargepoints/{id}/commands/...) with the operator key, asked for and kept for this tab only.
// A session's CDR link reads /sessions/{charger}/{connector}/{session}/cdrs when it is clicked.
"use strict";

(() => {
  const POLL_MS = 2000;
  const SESSION_ROWS = 25;
  const CHARGER_ROWS = 100;
  const HOURS = 24;
  const KEY_STORAGE = "evsessions.apiKey";
  const OPERATOR_STORAGE = "evsessions.operatorKey";
  const COMMAND_POLL_MS = 1000;

  const $ = (id) => document.getElementById(id);
  const seen = new Set(); // sessions already shown: a new one is highlighted
  let firstSessions = true;
  let chart = null;
  let timer = null;

  class Unauthorized extends Error {}

  // --- talking to the API ----------------------------------------------------------------------

  async function api(path) {
    const headers = { accept: "application/json" };
    const key = localStorage.getItem(KEY_STORAGE);
    if (key) headers["x-api-key"] = key;
    const response = await fetch(new URL(path, document.baseURI), { headers, cache: "no-store" });
    // 401 from the app's own key check; 403 from API Gateway's, deployed
    if (response.status === 401 || response.status === 403) {
      throw new Unauthorized("the API key is missing or wrong");
    }
    const body = await response.json();
    // /health answers 503 with a body when the database is unreachable: that is data, not failure
    if (!response.ok && !(path === "health" && response.status === 503)) {
      throw new Error(body && body.message ? body.message : `HTTP ${response.status}`);
    }
    return body;
  }

  // --- an operator's commands ------------------------------------------------------------------

  function describe(command) {
    if (command.status === "answered") {
      const status = command.response && command.response.status;
      return status ? `answered ${status}` : `answered ${JSON.stringify(command.response)}`;
    }
    if (command.status === "error") return `error ${command.error.code}: ${command.error.description}`;
    if (command.status === "timed_out") return "timed out: the charger did not answer";
    return "sent, waiting for the charger's answer…";
  }

  async function commandRequest(method, path, body) {
    const headers = { accept: "application/json", "content-type": "application/json" };
    const key = localStorage.getItem(KEY_STORAGE);
    if (key) headers["x-api-key"] = key;
    headers["x-operator-key"] = sessionStorage.getItem(OPERATOR_STORAGE) || "";
    const response = await fetch(new URL(path, document.baseURI), {
      method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
    return [response.status, await response.json()];
  }

  async function sendCommand(charger, action, payload, label) {
    const result = $("command-result");
    if (!sessionStorage.getItem(OPERATOR_STORAGE)) {
      const given = window.prompt("The operator key (x-operator-key):");
      if (!given) return;
      sessionStorage.setItem(OPERATOR_STORAGE, given.trim());
    }
    const what = `${label} on ${charger}`;
    result.textContent = `${what}: sending…`;
    try {
      const path = `chargepoints/${encodeURIComponent(charger)}/commands/${action}`;
      let [status, body] = await commandRequest("POST", path, payload);
      if (status === 401) sessionStorage.removeItem(OPERATOR_STORAGE);
      if (status !== 200 && status !== 202) {
        result.textContent = `${what}: refused (${status}): ${body.message || "error"}`;
        return;
      }
      result.textContent = `${what}: ${describe(body)}`;
      while (body.status === "pending") {
        await new Promise((resolve) => setTimeout(resolve, COMMAND_POLL_MS));
        const polled = `chargepoints/${encodeURIComponent(charger)}/commands/${body.command_id}`;
        [status, body] = await commandRequest("GET", polled);
        if (status !== 200 && status !== 202) {
          result.textContent = `${what}: ${body.message || `HTTP ${status}`}`;
          return;
        }
        result.textContent = `${what}: ${describe(body)}`;
      }
    } catch (error) {
      result.textContent = `${what}: not sent (${error.message})`;
    }
  }

  function commandButton(text, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = text;
    button.addEventListener("click", onClick);
    return button;
  }

  /** Reset, unlock each connector, and stop each open transaction of a connected charge point. */
  function commandCell(point) {
    const td = cell("", "commands");
    if (!point.connected) {
      td.textContent = "–";
      return td;
    }
    const id = point.charger_id;
    const connectors = point.connectors.map((c) => c.connector_id).filter((c) => c !== "0");
    for (const open of point.open_transactions || []) {
      td.append(commandButton(`Stop #${open.transaction_id}`, () =>
        sendCommand(id, "RemoteStopTransaction", { transactionId: open.transaction_id },
          `Stop transaction ${open.transaction_id}`)));
    }
    for (const connector of connectors.length ? connectors : ["1"]) {
      td.append(commandButton(`Unlock ${connector}`, () =>
        sendCommand(id, "UnlockConnector", { connectorId: Number(connector) },
          `Unlock connector ${connector}`)));
    }
    td.append(commandButton("Reset", () => sendCommand(id, "Reset", { type: "Soft" }, "Reset")));
    return td;
  }

  // --- formatting ------------------------------------------------------------------------------

  const number = (value, digits) =>
    value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const kwh = (value) => number(value, 1);
  const money = (cents) => number(cents / 100, 2);

  function duration(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : m ? `${m} min` : `${seconds} s`;
  }

  function when(iso) {
    if (!iso) return "never";
    const time = new Date(iso);
    const sameDay = time.toDateString() === new Date().toDateString();
    return sameDay
      ? time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : time.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
    if (seconds < 90) return `${seconds} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }

  // A session's OCPI CDRs, fetched with the key and opened as JSON in a new tab. An open suspect
  // session has none: it is billed once an operator decides.
  function cdrCell(s) {
    const td = document.createElement("td");
    if (s.counts_as === "suspect") {
      td.textContent = "–";
      td.title = "no CDR until an operator resolves the session";
      return td;
    }
    const ids = [s.charger_id, s.connector_id, s.session_id].map((v) => encodeURIComponent(v));
    const path = `sessions/${ids.join("/")}/cdrs?occurrence=${s.occurrence}`;
    const link = document.createElement("a");
    link.href = path;
    link.className = "cdr";
    link.textContent = s.counts_as === "void" ? "CDR + credit" : "CDR";
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const body = await api(path);
      const blob = new Blob([JSON.stringify(body, null, 2)], { type: "application/json" });
      window.open(URL.createObjectURL(blob), "_blank", "noopener");
    });
    td.append(link);
    return td;
  }

  function setStatus(state, text) {
    const badge = $("status");
    badge.dataset.state = state;
    badge.textContent = text;
  }

  // --- the parts of the page -------------------------------------------------------------------

  function showHealth(health) {
    $("health-api").textContent = "reachable";
    $("health-api").className = "ok";
    const database = health.database === "reachable";
    $("health-database").textContent = health.database;
    $("health-database").className = database ? "ok" : "bad";
    const letters = health.dead_letters;
    const lettersText = letters === null || letters === undefined ? "unknown" : String(letters);
    for (const id of ["health-dead-letters", "kpi-dead-letters"]) {
      $(id).textContent = lettersText;
      $(id).className = (id.startsWith("kpi") ? "value " : "") + (letters ? "bad" : "ok");
    }
    const suspects = health.suspect_sessions_open;
    for (const id of ["health-suspects", "kpi-suspects"]) {
      $(id).textContent = suspects === null || suspects === undefined ? "unknown" : String(suspects);
      $(id).className = (id.startsWith("kpi") ? "value " : "") + (suspects ? "warn" : "ok");
    }
    // The template's alarms: evaluated by the local emulator; null deployed (CloudWatch has them)
    const alarms = health.alarms;
    const firing = (alarms || []).filter((alarm) => alarm.state === "ALARM");
    $("health-alarms").textContent = alarms === null || alarms === undefined
      ? "in CloudWatch"
      : firing.length
        ? firing.map((alarm) => `ALARM ${alarm.label}: ${alarm.value}`).join(" · ")
        : "OK";
    $("health-alarms").className = firing.length ? "bad" : alarms ? "ok" : "";
    $("health-updated").textContent = when(new Date().toISOString());
    if (!database) setStatus("down", "database unreachable");
    else if (firing.length) setStatus("warn", `live · ALARM ${firing[0].label}`);
    else if (letters) setStatus("warn", `live · ${letters} dead letter${letters === 1 ? "" : "s"}`);
    else setStatus("live", "live");
  }

  function showSessions(page) {
    const body = $("session-rows");
    const rows = page.sessions.map((s) => {
      // a later session under a reused session id is a row of its own: "55 #2"
      const reused = s.occurrence > 1 ? ` #${s.occurrence}` : "";
      const key = `${s.charger_id}/${s.connector_id}/${s.session_id}${reused}`;
      const tr = row([
        cell(when(s.ended_at)),
        cell(s.charger_id),
        cell(s.connector_id, "wide"),
        cell(String(s.session_id) + reused, "wide"),
        cell(kwh(s.energy_delivered_in_kWh), "num"),
        cell(duration(s.duration_in_seconds), "num wide"),
        cell(money(s.session_cost_in_cents), "num"),
        cdrCell(s),
      ]);
      tr.dataset.session = key;
      const who = s.transaction && s.transaction.id_tag ? ` · id tag ${s.transaction.id_tag}` : "";
      const why = (s.findings || []).map((f) => `${f.code}: ${f.detail}`).join("; ");
      tr.title = `received ${s.received_at || "–"} (end time: ${s.ended_at_source})${who}` +
        (why ? ` · suspect (${s.counts_as}): ${why}` : "");
      if (s.counts_as === "suspect") tr.classList.add("suspect");
      if (!seen.has(key) && !firstSessions) tr.classList.add("new");
      seen.add(key);
      return tr;
    });
    firstSessions = false;
    if (rows.length) body.replaceChildren(...rows);
    const newest = page.sessions.map((s) => s.received_at).filter(Boolean).sort().pop();
    $("health-last-received").textContent = newest ? ago(newest) : "none yet";
  }

  /** Where a charger is and its tariff, from its registry record ("–" when it has none). */
  function place(record) {
    if (!record) return cell("–", "wide");
    const where = cell(`${record.location.address}, ${record.location.city}`, "wide");
    where.title = `${record.location.postal_code} ${record.location.city}, ${record.location.country}`;
    return where;
  }

  function showChargers(page, registry) {
    const records = new Map(registry.chargers.map((r) => [r.charger_id, r]));
    const rows = page.chargers.map((c) => {
      const last = cell(ago(c.last_session_ended_at));
      last.title = c.last_session_ended_at || "";
      const record = records.get(c.charger_id);
      const retired = record && record.status === "RETIRED";
      const tr = row([
        cell(c.charger_id + (retired ? " (retired)" : "")),
        place(record),
        cell((record && record.tariff_id) || "–", "wide"),
        cell(String(c.connectors.length), "num wide"),
        cell(String(c.sessions), "num"),
        cell(kwh(c.energy_kWh), "num"),
        cell(money(c.cost_cents), "num"),
        last,
      ]);
      tr.dataset.charger = c.charger_id;
      return tr;
    });
    if (rows.length) $("charger-rows").replaceChildren(...rows);
    $("chargers-more").hidden = !page.next_cursor;
  }

  function showChargePoints(list) {
    const rows = list.charge_points.map((p) => {
      const seen = cell(ago(p.last_seen), "wide"); // on a phone, room for the commands
      seen.title = p.last_seen || "";
      const statuses = p.connectors.map((c) => `${c.connector_id}: ${c.status}`).join(", ");
      const state = cell(p.connected ? "connected" : "offline", p.connected ? "ok" : "bad");
      const tr = row([
        cell(p.charger_id),
        state,
        seen,
        cell(statuses || "–"),
        cell(String(p.transactions_started), "num wide"),
        commandCell(p),
      ]);
      tr.dataset.chargePoint = p.charger_id;
      return tr;
    });
    if (rows.length) $("charge-point-rows").replaceChildren(...rows);
    $("charge-points-more").hidden = !list.more;
  }

  /** The last 24 hours as 24 buckets, hours without sessions as zeros. */
  function hourly(report) {
    const byStart = new Map(report.buckets.map((b) => [b.start.slice(0, 13), b]));
    const start = new Date(report.from);
    return Array.from({ length: HOURS }, (_, i) => {
      const hour = new Date(start.getTime() + i * 3600_000);
      const bucket = byStart.get(hour.toISOString().slice(0, 13));
      return {
        label: hour.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
        sessions: bucket ? bucket.sessions : 0,
        energy: bucket ? bucket.energy_kWh : 0,
        revenue: bucket ? bucket.cost_cents / 100 : 0,
      };
    });
  }

  function showTotals(report) {
    $("kpi-sessions").textContent = String(report.totals.sessions);
    $("kpi-energy").textContent = `${kwh(report.totals.energy_kWh)} kWh`;
    $("kpi-revenue").textContent = money(report.totals.cost_cents);
    const suspect = report.suspect || { sessions: 0, cost_cents: 0 };
    $("kpi-suspect-note").textContent = suspect.sessions
      ? `+ ${money(suspect.cost_cents)} in ${suspect.sessions} suspect, not counted`
      : "";
    const hours = hourly(report);
    if (window.Chart) drawChart(hours);
    else listHours(hours);
  }

  function drawChart(hours) {
    const labels = hours.map((h) => h.label);
    const energy = hours.map((h) => h.energy);
    const revenue = hours.map((h) => h.revenue);
    if (chart) {
      chart.data.labels = labels;
      chart.data.datasets[0].data = energy;
      chart.data.datasets[1].data = revenue;
      chart.update("none");
      return;
    }
    chart = new window.Chart($("hourly-chart"), {
      data: {
        labels,
        datasets: [
          { type: "bar", label: "Energy (kWh)", data: energy, yAxisID: "energy",
            backgroundColor: "rgba(46, 125, 50, 0.6)" },
          { type: "line", label: "Revenue", data: revenue, yAxisID: "revenue",
            borderColor: "#1565c0", backgroundColor: "#1565c0", cubicInterpolationMode: "monotone",
            pointRadius: 2 },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
          energy: { type: "linear", position: "left", beginAtZero: true,
            title: { display: true, text: "kWh" } },
          revenue: { type: "linear", position: "right", beginAtZero: true,
            grid: { drawOnChartArea: false }, title: { display: true, text: "revenue" } },
        },
      },
    });
  }

  function listHours(hours) {
    $("chart-missing").hidden = false;
    $("hourly-fallback").hidden = false;
    $("hourly-chart").parentElement.hidden = true;
    const rows = hours
      .filter((h) => h.sessions)
      .reverse()
      .map((h) =>
        row([cell(h.label), cell(String(h.sessions), "num"), cell(kwh(h.energy), "num"),
          cell(number(h.revenue, 2), "num")]),
      );
    $("hourly-rows").replaceChildren(...(rows.length ? rows : [row([cell("No sessions in the last 24 hours.")])]));
  }

  // --- the loop ----------------------------------------------------------------------------------

  function window24h() {
    const from = new Date(Date.now() - (HOURS - 1) * 3600_000);
    from.setUTCMinutes(0, 0, 0);
    return `totals?bucket=hour&from=${encodeURIComponent(from.toISOString())}`;
  }

  async function refresh() {
    try {
      showHealth(await api("health"));
    } catch (error) {
      if (error instanceof Unauthorized) return askForKey();
      $("health-api").textContent = `unreachable (${error.message})`;
      $("health-api").className = "bad";
      setStatus("down", "API unreachable: retrying");
      return schedule();
    }
    try {
      const [sessions, chargers, registry, chargePoints, totals] = await Promise.all([
        api(`sessions?limit=${SESSION_ROWS}`),
        api(`chargers?limit=${CHARGER_ROWS}`),
        api("registry/chargers"),
        api(`chargepoints?limit=${CHARGER_ROWS}`),
        api(window24h()),
      ]);
      showSessions(sessions);
      showChargers(chargers, registry);
      showChargePoints(chargePoints);
      showTotals(totals);
    } catch (error) {
      if (error instanceof Unauthorized) return askForKey();
      setStatus("down", `no data: ${error.message}`);
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  function askForKey() {
    clearTimeout(timer);
    setStatus("warn", "API key needed");
    $("key-error").hidden = !localStorage.getItem(KEY_STORAGE);
    $("key-form").hidden = false;
    $("key-input").focus();
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORAGE, $("key-input").value.trim());
    $("key-input").value = "";
    $("key-form").hidden = true;
    refresh();
  });
  document.addEventListener("visibilitychange", () => document.hidden || refresh());

  refresh();
})();
