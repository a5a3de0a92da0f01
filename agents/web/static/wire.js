// The wire page. Article data is hostile: it only ever reaches the DOM as text (textContent, text nodes),
// and only http(s) URLs become links. No innerHTML anywhere in this file.
"use strict";

const FILTERS = ["entity", "rule", "source", "language", "verdict", "q"];
const PAGE = 50;
const $ = (id) => document.getElementById(id);
const state = { lastEventId: "", seen: new Set(), alerts: new Map(), refresh: null, source: null, selected: -1 };

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function safeHref(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (error) {
    return null;
  }
}

function outLink(url, text) {
  const href = safeHref(url);
  return href ? el("a", { href, rel: "noopener noreferrer nofollow", target: "_blank", className: "out" }, text)
              : null;
}

function params() { return new URLSearchParams(location.search); }

function go(changes, replace) {
  const next = params();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === "" || value === undefined) next.delete(key); else next.set(key, value);
  }
  const url = "/wire" + (next.toString() ? "?" + next.toString() : "");
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  render();
}

function when(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/:\d\dZ$/, "Z");
}

async function getJSON(path) {
  for (;;) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 503) { await new Promise((done) => setTimeout(done, 1000)); continue; }
    if (response.status === 401) { location.assign("/wire/login"); throw new Error("not logged in"); }
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }
}

const KINDS = { new: "new", update: "update", same_story: "same story", duplicate: "duplicate" };
function badge(kind) { return el("span", { className: "badge " + kind }, KINDS[kind] || kind); }

function entityButton(entity, action) {
  return el("button", { type: "button", className: "entity", title: "Filter the wire by " + entity.name,
                        dataset: { entity: entity.id }, onclick: action },
            entity.name, el("span", { className: "label" }, entity.label));
}

function storyItem(story) {
  const open = (event) => { event.preventDefault(); go({ story: story.story_id, about: null }); };
  const sources = story.sources.slice(0, 4).map((source) =>
    el("button", { type: "button", className: "linkish source", title: "Only " + source,
                   onclick: () => go({ source, page: null }) }, source));
  return el("li", { className: "story", dataset: { id: story.story_id } },
    badge(story.badge),
    el("a", { className: "headline", href: "/wire?story=" + encodeURIComponent(story.story_id), onclick: open },
       story.headline || "(no headline)"),
    el("div", { className: "meta" },
       el("span", { title: "first seen" }, "first " + when(story.first_seen)),
       el("span", { title: "last update" }, "updated " + when(story.last_update)),
       el("span", { className: "versions" }, story.counts.versions + (story.counts.versions === 1 ? " version" : " versions")),
       ...sources,
       ...story.rules.map((rule) => el("span", { className: "rule-tag" }, "⚑ " + rule))),
    el("div", { className: "entities" },
       ...story.entities.map((entity) => entityButton(entity, () => go({ entity: entity.id, page: null })))));
}

async function renderWire() {
  const query = params();
  const page = Math.max(0, parseInt(query.get("page") || "0", 10) || 0);
  const api = new URLSearchParams();
  for (const name of FILTERS) if (query.get(name)) api.set(name, query.get(name));
  api.set("offset", String(page * PAGE));
  api.set("limit", String(PAGE));
  const listing = await getJSON("/wire/api/stories?" + api.toString());
  const list = $("stories");
  const before = new Set([...list.children].map((item) => item.dataset.id));
  list.replaceChildren(...listing.stories.map(storyItem));
  if (before.size) for (const item of list.children) if (!before.has(item.dataset.id)) item.classList.add("fresh");
  $("count").textContent = listing.total + (listing.total === 1 ? " story" : " stories");
  $("page").textContent = "page " + (page + 1) + " of " + Math.max(1, Math.ceil(listing.total / PAGE));
  $("newer").disabled = page === 0;
  $("older").disabled = (page + 1) * PAGE >= listing.total;
  state.selected = Math.min(state.selected, list.children.length - 1);
  markSelected();
  return listing.vector;
}

function alertItem(alert) {
  const why = [];
  if (alert.detail) why.push(alert.detail);
  if (alert.matched_entities.length) why.push("entities: " + alert.matched_entities.join(", "));
  if (alert.matched_keywords.length) why.push("keywords: " + alert.matched_keywords.join(", "));
  if (alert.new_facts.length && !alert.detail) why.push("new facts: " + alert.new_facts.join(", "));
  const title = alert.story_id
    ? el("a", { className: "headline", href: "/wire?story=" + encodeURIComponent(alert.story_id),
                onclick: (event) => { event.preventDefault(); go({ story: alert.story_id, about: null }); } },
         alert.title || "(no title)")
    : el("span", { className: "headline" }, alert.title || "(digest)");
  return el("li", { className: "alert", dataset: { key: alert.idempotency_key, rule: alert.rule_id } },
    el("div", {}, el("strong", { className: "rule" }, alert.rule_id), " · ",
       el("span", { className: "trigger" }, alert.trigger.replace(/_/g, " "))),
    title, el("div", { className: "why" }, why.join(" · ")));
}

function showAlert(alert) {
  state.alerts.set(alert.idempotency_key, alert);
  const rule = $("rule-filter").value;
  if (rule && alert.rule_id !== rule) return;
  const list = $("alerts");
  if (list.querySelector('[data-key="' + CSS.escape(alert.idempotency_key) + '"]')) return;
  list.prepend(alertItem(alert));
  if (![...$("rule-filter").options].some((option) => option.value === alert.rule_id)) {
    $("rule-filter").append(el("option", { value: alert.rule_id }, alert.rule_id));
  }
}

async function renderAlerts() {
  const rule = params().get("rule") || "";
  const page = await getJSON("/wire/api/alerts" + (rule ? "?rule=" + encodeURIComponent(rule) : ""));
  const select = $("rule-filter");
  select.replaceChildren(el("option", { value: "" }, "all rules"),
    ...page.rules.map((r) => el("option", { value: r.id }, r.id + " (" + r.count + ")")));
  select.value = rule;
  $("alerts").replaceChildren(...page.alerts.map(alertItem));
  for (const alert of page.alerts) state.alerts.set(alert.idempotency_key, alert);
  return page.vector;
}

function backLink() {
  return el("p", { className: "back" }, el("button", { type: "button", className: "linkish", id: "back",
    onclick: () => go({ story: null, about: null }) }, "← the wire"));
}

async function renderStory(storyId) {
  const story = await getJSON("/wire/api/story?id=" + encodeURIComponent(storyId));
  const view = $("detail-view");
  if (!story) { view.replaceChildren(backLink(), el("p", {}, "No such story.")); return; }
  const versions = story.versions.map((version) => el("li", { className: "version", dataset: { kind: version.kind } },
    el("div", {}, badge(version.kind), el("span", { className: "source" }, version.source || "unknown source"), " · ",
       el("span", {}, when(version.published)), " ", outLink(version.url, "original ↗")),
    el("div", { className: "title" }, version.title),
    version.sentences && version.sentences.length
      ? el("ul", { className: "added" }, ...version.sentences.map((sentence) =>
          el("li", {}, el("mark", { className: "added-sentence" }, sentence))))
      : null));
  const alerts = story.alerts.map(alertItem);
  view.replaceChildren(backLink(), el("article", { className: "detail story-page", dataset: { id: story.story_id } },
    el("h2", { className: "story-headline" }, story.headline),
    el("dl", { className: "facts" },
       el("dt", {}, "first seen"), el("dd", {}, when(story.first_seen)),
       el("dt", {}, "last update"), el("dd", {}, when(story.last_update)),
       el("dt", {}, "sources"), el("dd", {}, story.sources.join(", ")),
       el("dt", {}, "versions"), el("dd", {}, String(story.counts.versions))),
    el("div", { className: "entities" }, ...story.entities.map((entity) =>
       entityButton(entity, () => go({ about: entity.id, story: null })))),
    alerts.length ? el("h3", {}, "Alerts") : null, alerts.length ? el("ol", {}, ...alerts) : null,
    el("h3", {}, "Timeline"), el("ol", { className: "timeline" }, ...versions)));
}

function sparkline(days) {
  const ns = "http://www.w3.org/2000/svg";
  const keys = Object.keys(days).sort();
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("width", "240");
  svg.setAttribute("height", "48");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "mentions per day");
  const background = document.createElementNS(ns, "rect");
  background.setAttribute("width", "240");
  background.setAttribute("height", "48");
  svg.append(background);
  if (!keys.length) return svg;
  const first = Date.parse(keys[0] + "T00:00:00Z");
  const spanDays = Math.max(1, Math.round((Date.parse(keys[keys.length - 1] + "T00:00:00Z") - first) / 864e5));
  const top = Math.max(...keys.map((key) => days[key]));
  const points = [];
  for (let day = 0; day <= spanDays; day++) {
    const key = new Date(first + day * 864e5).toISOString().slice(0, 10);
    const x = spanDays ? (day / spanDays) * 236 + 2 : 120;
    points.push(x.toFixed(1) + "," + (46 - ((days[key] || 0) / top) * 42).toFixed(1));
  }
  if (points.length === 1) points.push("238," + points[0].split(",")[1]);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

async function renderEntity(entityId) {
  const entity = await getJSON("/wire/api/entity?id=" + encodeURIComponent(entityId));
  const view = $("detail-view");
  if (!entity) { view.replaceChildren(backLink(), el("p", {}, "No such entity.")); return; }
  view.replaceChildren(backLink(), el("article", { className: "detail entity-page", dataset: { id: entity.id } },
    el("h2", {}, entity.name, " ", el("span", { className: "muted" }, entity.label)),
    el("dl", { className: "facts" },
       el("dt", {}, "aliases seen"), el("dd", { className: "aliases" }, (entity.aliases || []).join(", ") || "—"),
       el("dt", {}, "first seen"), el("dd", {}, when(entity.first_seen) || "—"),
       el("dt", {}, "last seen"), el("dd", {}, when(entity.last_seen) || "—"),
       el("dt", {}, "mentions"), el("dd", {}, String(entity.mentions ?? "—"))),
    sparkline(entity.days || {}),
    el("p", {}, el("button", { type: "button", className: "linkish", id: "filter-entity",
       onclick: () => go({ entity: entity.id, about: null, page: null }) }, "Show the wire for " + entity.name)),
    el("h3", {}, "Stories"), el("ol", {}, ...entity.stories.map(storyItem))));
}

function renderFilters() {
  const query = params();
  const chips = FILTERS.filter((name) => query.get(name)).map((name) =>
    el("span", { className: "chip", dataset: { filter: name } }, name + ": ",
       name === "entity"
         ? el("button", { type: "button", className: "linkish", title: "Entity page",
                          onclick: () => go({ about: query.get("entity") }) }, query.get(name))
         : query.get(name),
       el("button", { type: "button", title: "Remove this filter", ariaLabel: "remove " + name,
                      onclick: () => go({ [name]: null, page: null }) }, "×")));
  $("filters").replaceChildren(...chips);
  if (document.activeElement !== $("search")) $("search").value = query.get("q") || "";
}

async function render() {
  const query = params();
  renderFilters();
  const detail = query.get("story") || query.get("about");
  $("detail-view").hidden = !detail;
  $("wire-view").hidden = Boolean(detail);
  const vectors = [renderAlerts()];
  if (query.get("story")) await renderStory(query.get("story"));
  else if (query.get("about")) await renderEntity(query.get("about"));
  else vectors.push(renderWire());
  return Promise.all(vectors);
}

function scheduleRefresh() {
  if (state.refresh) return;
  state.refresh = setTimeout(async () => {
    state.refresh = null;
    const query = params();
    if (query.get("story")) await renderStory(query.get("story"));
    else if (query.get("about")) await renderEntity(query.get("about"));
    else await renderWire();
  }, 150);
}

function noteEvent(kind, id, position) {
  const seenKey = kind + " " + id + " " + position.join(":");
  const root = document.documentElement.dataset;
  root.events = String(Number(root.events || 0) + 1);
  if (state.seen.has(seenKey)) root.repeats = String(Number(root.repeats || 0) + 1);
  state.seen.add(seenKey);
}

function connect(after) {
  const url = "/wire/events" + (after ? "?after=" + encodeURIComponent(after) : "");
  const source = new EventSource(url);
  state.source = source;
  source.onopen = () => { $("status").textContent = "live"; $("status").className = "status live"; };
  source.onerror = () => {
    $("status").textContent = "reconnecting…";
    $("status").className = "status down";
    if (source.readyState === EventSource.CLOSED) {  // refused (e.g. 503 while the worker starts): retry ourselves
      setTimeout(() => { if (state.source === source) connect(state.lastEventId || after); }, 1000);
    }
  };
  source.addEventListener("story", (event) => {
    state.lastEventId = event.lastEventId;
    const story = JSON.parse(event.data);
    noteEvent("story", story.story_id, story.position);
    scheduleRefresh();
  });
  source.addEventListener("alert", (event) => {
    state.lastEventId = event.lastEventId;
    const alert = JSON.parse(event.data);
    noteEvent("alert", alert.idempotency_key, alert.position);
    showAlert(alert);
    scheduleRefresh();
  });
}

function lowest(vectors) {
  const merged = new Map();
  for (const vector of vectors) {
    for (const [key, offset] of Object.entries(vector || {})) {
      merged.set(key, merged.has(key) ? Math.min(merged.get(key), offset) : offset);
    }
  }
  for (const vector of vectors) for (const key of merged.keys()) if (!(key in (vector || {}))) merged.delete(key);
  return [...merged].sort().map(([key, offset]) => key + "=" + offset).join(",");
}

function markSelected() {
  const items = [...$("stories").children];
  items.forEach((item, index) => item.classList.toggle("selected", index === state.selected));
  if (items[state.selected]) items[state.selected].scrollIntoView({ block: "nearest" });
}

function onKey(event) {
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (event.key === "Escape") {
    if (typing) event.target.blur(); else go({ story: null, about: null });
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const items = $("stories").children;
  if (event.key === "/") { event.preventDefault(); $("search").focus(); }
  else if (event.key === "j" && !$("wire-view").hidden) { state.selected = Math.min(items.length - 1, state.selected + 1); markSelected(); }
  else if (event.key === "k" && !$("wire-view").hidden) { state.selected = Math.max(0, state.selected - 1); markSelected(); }
  else if (event.key === "Enter" && !$("wire-view").hidden && items[state.selected]) {
    go({ story: items[state.selected].dataset.id });
  }
}

async function start() {
  let typed = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typed);
    typed = setTimeout(() => go({ q: $("search").value.trim(), page: null }, true), 200);
  });
  $("rule-filter").addEventListener("change", () => go({ rule: $("rule-filter").value, page: null }));
  $("newer").addEventListener("click", () => go({ page: String(Math.max(0, Number(params().get("page") || 0) - 1)) }));
  $("older").addEventListener("click", () => go({ page: String(Number(params().get("page") || 0) + 1) }));
  document.addEventListener("keydown", onKey);
  window.addEventListener("popstate", () => render());
  // The stream starts where the state the page loaded ends: from then on it sends every change, once.
  const vectors = await Promise.all([getJSON("/wire/api/alerts").then((page) => page.vector),
                                     getJSON("/wire/api/stories?limit=1").then((listing) => listing.vector)]);
  await render();
  connect(lowest(vectors));
}

start();
