// Shared pieces of Keyflow's browser scenarios (run by cmd/keyflow's TestE2E): Debian's Chromium
// through playwright-core, a tiny HTTP server standing in for a relying party's callback or a
// service provider's ACS, and the JSON summary each scenario prints as its last stdout line.
import { chromium } from "playwright-core";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";

/** The value of a required environment variable. */
export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`environment variable ${name} is not set`);
  return v;
}

/** Throws when cond is false. */
export function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

/** Headless Debian Chromium; playwright gives it a fresh --user-data-dir. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/**
 * A local HTTP server on 127.0.0.1:port recording every request (method, path, query and the
 * urlencoded form of a POST), except the browser's /favicon.ico and the pages given to serve.
 * Answers 200 with a small page.
 */
export async function recorder(port) {
  const hits = [];
  const pages = new Map();
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => { body += c; });
    req.on("end", () => {
      const u = new URL(req.url, `http://127.0.0.1:${port}`);
      if (u.pathname === "/favicon.ico") { // the browser's own request, not the protocol's
        res.writeHead(404).end();
        return;
      }
      if (req.method === "GET" && pages.has(u.pathname)) { // a page of the RP/SP itself
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
        res.end(pages.get(u.pathname));
        return;
      }
      const hit = { method: req.method, path: u.pathname, url: u.href, query: Object.fromEntries(u.searchParams) };
      if (req.method === "POST") hit.form = Object.fromEntries(new URLSearchParams(body));
      hits.push(hit);
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>received</title><p id=received>received</p>");
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    hits,
    /** Serves html at path (GET), unrecorded; returns the page's URL. */
    serve(path, html) {
      pages.set(path, html);
      return `http://127.0.0.1:${port}${path}`;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Records the main frame's navigations of a browser page and which of them rendered a Keyflow
 * login form (an HTML page with a form of class "auth"), so a scenario can tell whether the user
 * was asked to log in during an interaction. Redirects through the login page's URL that render
 * no form (SSO, IsPassive) do not count.
 */
export function watch(page) {
  const navs = [];
  const forms = [];
  const pending = [];
  page.on("request", (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navs.push(`${r.method()} ${r.url()}`);
  });
  page.on("response", (r) => {
    const req = r.request();
    if (!req.isNavigationRequest() || req.frame() !== page.mainFrame() || r.status() !== 200 ||
      !r.url().includes("/authenticationendpoint/login")) return;
    pending.push(r.text().then((html) => {
      if (/<form class="auth[ "]/.test(html)) forms.push(r.url());
    }, () => {}));
  });
  return {
    navs,
    /** A position to compare with later. */
    mark() { return { navs: navs.length, forms: forms.length }; },
    /** Whether a login form was rendered since mark, and the navigations since. */
    async since(mark) {
      await Promise.all(pending);
      return { loginShown: forms.length > mark.forms, navs: navs.slice(mark.navs) };
    },
  };
}

/**
 * Fills and submits the username/password form of the login page and waits for the page it
 * leads to; with leadsTo, then also for a page whose URL matches it (an auto-posting page may
 * come in between).
 */
export async function passwordLogin(page, username, password, leadsTo) {
  const form = page.locator("form.auth-basic");
  await form.locator('input[name="username"]').fill(username);
  await form.locator('input[name="password"]').fill(password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    form.locator('button[type="submit"]').click(),
  ]);
  if (leadsTo) await page.waitForURL(leadsTo, { waitUntil: "load" });
}

/**
 * After a navigation into Keyflow: waits until the browser either reaches target (a URL
 * predicate or string) or shows the username/password form, and in the latter case logs in.
 */
export async function loginIfAsked(page, username, password, target) {
  const arrived = page.waitForURL(target, { waitUntil: "load" }).then(() => "arrived");
  const form = page.locator("form.auth-basic").waitFor({ state: "visible" }).then(() => "form");
  arrived.catch(() => {});
  form.catch(() => {});
  if (await Promise.race([arrived, form]) === "form") await passwordLogin(page, username, password, target);
}

/**
 * Runs a scenario: launches Chromium, calls fn({browser, summary, setPage}), and prints the
 * summary as one JSON line. On failure it saves a screenshot and the HTML of the current page
 * into ARTIFACT_DIR and puts their paths and the page's text into the summary. Exits 0 or 1.
 */
export async function run(name, fn) {
  const summary = { scenario: name, ok: false };
  let browser;
  let current;
  const t0 = Date.now();
  try {
    browser = await launch();
    summary.browser = browser.version();
    await fn({ browser, summary, setPage: (p) => { current = p; } });
    summary.ok = true;
  } catch (e) {
    summary.error = e && e.stack ? e.stack : String(e);
    if (current) {
      try {
        const dir = process.env.ARTIFACT_DIR || ".";
        await mkdir(dir, { recursive: true });
        summary.pageURL = current.url();
        summary.screenshot = path.join(dir, `${name}-failure.png`);
        await current.screenshot({ path: summary.screenshot, fullPage: true });
        summary.html = path.join(dir, `${name}-failure.html`);
        await writeFile(summary.html, await current.content());
        summary.pageText = (await current.locator("body").innerText({ timeout: 2000 })).slice(0, 2000);
      } catch (e2) {
        summary.artifactError = String(e2);
      }
    }
  } finally {
    summary.ms = Date.now() - t0;
    if (browser) await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(summary) + "\n");
  process.exit(summary.ok ? 0 : 1);
}
