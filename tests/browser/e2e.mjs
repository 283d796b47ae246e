// End-to-end walk through the Relais consoles in Debian's Chromium, driven
// by playwright-core. browser_test.go starts the hub (with its console) and
// two site agents (with theirs), then runs this script with their
// addresses in the environment; any failed step exits non-zero.
//
// Each person gets a browser of their own (a fresh profile), as on the
// shared PCs of different sites: a case worker in Côte d'Ivoire, one in
// Mali, an auditor, an operator.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = process.env;
const need = (name) => {
  if (!env[name]) throw new Error(`missing ${name}`);
  return env[name];
};
const HUB = need("RELAIS_HUB_URL");
const STATS_HUB = need("RELAIS_STATS_HUB_URL");
const CI = need("RELAIS_CI_CONSOLE");
const ML = need("RELAIS_ML_CONSOLE");
const ML_AGENCY = need("RELAIS_ML_AGENCY");
const SHOTS = need("RELAIS_SCREENSHOTS");
const BUNDLE = need("RELAIS_BUNDLE_OUT");
const RELAIS = need("RELAIS_BIN");
const AUDITOR_KEYS = need("RELAIS_AUDITOR_KEYS");
const ADMIN_TOKEN = need("RELAIS_ADMIN_TOKEN");
const CHROMIUM = env.RELAIS_CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 60_000;

mkdirSync(SHOTS, { recursive: true });
const profiles = [];
const contexts = [];

// person opens a browser with a fresh profile: nothing shared with the
// others, nothing left behind.
async function person(locale) {
  const dir = mkdtempSync(join(tmpdir(), "relais-chromium-"));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    locale,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  contexts.push(ctx);
  ctx.setDefaultTimeout(TIMEOUT);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("dialog", (d) => d.accept());
  return { ctx, page };
}

let step = 0;
async function check(name, fn) {
  step++;
  const started = Date.now();
  try {
    await fn();
    console.log(`ok ${step} - ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    console.log(`not ok ${step} - ${name}`);
    throw err;
  }
}

// eventually reloads page until its text holds what, up to a minute: the
// agents sync in the background.
async function eventually(page, what, text) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const body = await page.textContent("body");
    if (body.includes(text)) return;
    if (Date.now() > deadline) throw new Error(`never saw ${what} ("${text}")`);
    await page.waitForTimeout(500);
    await page.reload();
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

// auditorLogin signs the console's challenge with `relais auditor login`,
// as the auditor does on their own machine, and pastes the answer.
async function auditorLogin(p, hub) {
  await p.goto(hub + "/console/login");
  const challenge = (await p.textContent("#challenge")).trim();
  const answer = execFileSync(RELAIS, ["auditor", "login", "--keys", AUDITOR_KEYS, "--hub", hub, "--challenge", challenge],
    { encoding: "utf8", env: { PATH: env.PATH, HOME: env.HOME }, stdio: ["ignore", "pipe", "ignore"] }).trim();
  await p.fill("#answer", answer);
  await Promise.all([p.waitForURL(/\/console\/audit$/), p.click("form[action$='/login/auditor'] button")]);
}

async function setupSite(page, base, code, username, display) {
  await page.goto(base + "/");
  expect(page.url().endsWith("/setup"), `a new site opens on /setup, not ${page.url()}`);
  await page.fill("#code", code);
  await page.fill("#username", username);
  await page.fill("#display", display);
  await page.fill("#password", "une phrase assez longue");
  await Promise.all([page.waitForURL(/\/inbox$/), page.click("button[type=submit]")]);
}

const today = new Date();
const yesterday = new Date(today.getTime() - 86_400_000).toISOString().slice(0, 10);
let transfer = "";

try {
  const ci = await person("fr-FR");
  await check("the Ivorian case worker creates the site's first account and logs in", async () => {
    await setupSite(ci.page, CI, need("RELAIS_CI_SETUP_CODE"), "awa", "Awa Traoré");
    const headers = (await ci.page.goto(CI + "/inbox")).headers();
    expect(headers["cache-control"] === "no-store", "pages are no-store");
    expect((headers["content-security-policy"] || "").includes("default-src 'self'"), "a strict CSP");
  });

  await check("she composes a referral on the form generated from the contract", async () => {
    const p = ci.page;
    await p.goto(CI + "/compose");
    await p.selectOption("#to", ML_AGENCY);
    await p.fill("#case", "CI-ABJ-2026-0042");
    await p.selectOption("#purpose", "protection_referral");
    await p.fill("#body-child-given_names", "Awa");
    await p.fill("#body-child-family_name", "Ouédraogo");
    await p.selectOption("#body-child-sex", "f");
    await p.fill("#body-child-estimated_age", "13");
    await p.fill("#body-child-nationality", "ml");
    await p.fill("#body-location-country", "ci");
    await p.fill("#body-location-place", "Gare routière d'Adjamé, Abidjan");
    await p.selectOption("#body-family-0-relationship", "mother");
    await p.fill("#body-family-0-given_names", "Mariam");
    await p.fill("#body-family-0-country", "ml");
    await p.check('input[name="body.protection_concerns.codes"][value="unaccompanied"]');
    await p.check('input[name="body.protection_concerns.codes"][value="separated"]');
    await p.fill("#body-narrative", "Retrouvée seule à la gare routière ; dit venir de Sikasso, où vivrait sa mère.");
    await p.selectOption("#body-urgency", "high");
    await p.check('input[name="body.requested_services"][value="family_tracing"]');
    await p.check('input[name="consent.basis"][value="consent"]');
    await p.fill("#consent-ref", "CONS-CI-0042");
    await p.selectOption("#consent-band", "12-14");
    await p.selectOption("#consent-giver", "guardian");
    await p.check("#consent-assent");
    await p.fill("#consent-obtained", yesterday);
    await Promise.all([p.waitForURL(/compose\?draft=/), p.click("#save-draft")]);
    expect((await p.textContent(".flash")).includes("Brouillon enregistré"), "the draft is saved");
    expect((await p.textContent("#consent")).includes("15 à 17 ans"), "the age-band rules are explained");
    await shot(p, "compose.png");
  });

  await check("she sends it: sealed at the site, queued for the next sync", async () => {
    const p = ci.page;
    await Promise.all([p.waitForURL(/\/transfers\/[0-9A-Za-z-]+$/), p.click("#send")]);
    transfer = p.url().split("/").pop();
    expect(transfer.length > 20, "a transfer id");
  });

  const ml = await person("fr-FR");
  await check("the Malian case worker sees the referral in her inbox", async () => {
    await setupSite(ml.page, ML, need("RELAIS_ML_SETUP_CODE"), "fatou", "Fatou Keïta");
    await eventually(ml.page, "the referral in the Malian inbox", "Awa Ouédraogo");
    const row = ml.page.locator("tr", { hasText: "Awa Ouédraogo" });
    expect((await row.textContent()).includes("Élevée"), "the urgency is shown");
    await shot(ml.page, "inbox.png");
  });

  await check("she reads the decrypted file and accepts the referral", async () => {
    const p = ml.page;
    await Promise.all([p.waitForURL(/\/messages\//), p.click(`a[href="/messages/${transfer}"]`)]);
    const body = await p.textContent("main");
    expect(body.includes("Gare routière d'Adjamé"), "the decrypted place");
    expect(body.includes("Enfant non accompagné"), "the coded concern, labelled");
    expect(body.includes("Mariam"), "the family");
    await shot(p, "message.png");
    await Promise.all([p.waitForURL(new RegExp(`/messages/${transfer}$`)), p.click("#accept")]);
    expect((await p.textContent(".flash")).includes("Acceptation"), "the acceptance is queued");
  });

  await check("the Ivorian site sees the acceptance on the transfer's timeline", async () => {
    await ci.page.goto(`${CI}/transfers/${transfer}`);
    await eventually(ci.page, "the acceptance at the referring site", "Référencement accepté");
    await shot(ci.page, "site-timeline.png");
  });

  const auditor = await person("fr-FR");
  await check("an auditor logs in to the hub console with a signed challenge", async () => {
    await auditorLogin(auditor.page, HUB);
  });

  await check("the auditor finds the transfer and follows its timeline", async () => {
    const p = auditor.page;
    await p.fill("#agency", ML_AGENCY);
    await Promise.all([p.waitForURL(/\/console\/audit\?/), p.click("form[role=search] button[type=submit]")]);
    await Promise.all([p.waitForURL(/\/audit\/transfers\//), p.click(`a[href="/console/audit/transfers/${transfer}"] >> nth=0`)]);
    await eventually(p, "the acceptance in the hub's trail", "Transfert accepté");
    const facts = await p.textContent("dl.facts");
    expect(facts.includes(ML_AGENCY), "the responsible agency");
    expect(!(await p.textContent("main")).includes("Ouédraogo"), "no personal data at the hub");
    await shot(p, "auditor-timeline.png");
  });

  await check("the auditor downloads the verifiable bundle", async () => {
    const p = auditor.page;
    const [download] = await Promise.all([p.waitForEvent("download"), p.click("#download-bundle")]);
    await download.saveAs(BUNDLE);
  });

  await check("the auditor sees the checkpoint status", async () => {
    const p = auditor.page;
    await p.goto(HUB + "/console/audit/checkpoint");
    expect((await p.textContent("main")).includes("Clé publique du hub"), "the hub key");
  });

  await check("the statistics page answers, and withholds the quarter under way", async () => {
    const p = auditor.page;
    const res = await p.goto(HUB + "/console/stats");
    expect(res.status() === 200, `stats: ${res.status()}`);
    expect((await p.textContent("main")).includes("masqué"), "today's transfers are withheld");
  });

  const official = await person("fr-FR");
  await check("a ministry official reads the flows and stage durations of past quarters", async () => {
    const p = official.page;
    await auditorLogin(p, STATS_HUB);
    await p.goto(STATS_HUB + "/console/stats");
    expect((await p.locator("svg path[marker-end]").count()) >= 2, "published flows are drawn");
    expect((await p.locator("svg polyline").count()) >= 1, "stage durations are drawn");
    const table = await p.textContent("main");
    expect(table.includes("BF → ML") && table.includes("masqué"), "published and withheld corridors");
    await shot(p, "stats.png");
  });

  const operator = await person("en-GB");
  await check("an operator (in English) sees queues, agencies and agreements", async () => {
    const p = operator.page;
    await p.goto(HUB + "/console/login");
    expect((await p.textContent("h1")).includes("Log in"), "English from Accept-Language");
    await p.fill("#token", ADMIN_TOKEN);
    await Promise.all([p.waitForURL(/\/console\/ops$/), p.click("form[action$='/login/operator'] button")]);
    const main = await p.textContent("main");
    expect(main.includes(ML_AGENCY) && main.includes("bf-ci-ml"), "agencies and the loaded agreement");
    await shot(p, "operator.png");
  });

  await check("the layout flips right to left in Arabic", async () => {
    const p = operator.page;
    await p.goto(HUB + "/console/lang?to=ar&back=/console/ops");
    expect((await p.getAttribute("html", "dir")) === "rtl", "dir=rtl");
    await shot(p, "operator-ar.png");
  });

  await check("logging out clears the session: the inbox asks for a login again", async () => {
    const p = ml.page;
    await p.goto(ML + "/inbox");
    const session = async () => ((await ml.ctx.cookies()).find((c) => c.name === "relais_session") || {}).value;
    const before = await session();
    await Promise.all([p.waitForURL(/\/login$/), p.click("form[action='/logout'] button")]);
    expect((await session()) !== before, "the logged-in session cookie is gone");
    await p.goto(ML + "/inbox");
    expect(p.url().endsWith("/login"), "back to the login page");
    await p.goBack();
    expect(!(await p.textContent("body")).includes("Awa Ouédraogo"), "the back button shows no child's data");
  });

  console.log(`${step} passed, 0 failed`);
  console.log(`transfer ${transfer}`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  for (const ctx of contexts) await ctx.close().catch(() => {});
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
}
