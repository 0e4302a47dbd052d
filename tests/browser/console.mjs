// The console in a real browser: Debian's chromium, headless, driven by
// playwright-core. Run by tests/e2e/console.rs, which fills a collector with
// signed reports from real agents and passes the address and accounts:
//   BASE_URL, PASSWORD, SHOT_DIR, XSS_NAME, DAEMON_HOST (the host name of
//   the enrolled `mijian-agent run` daemons delivering over HTTP)
// Exits non-zero with a message on the first failed expectation.
import { chromium } from "playwright-core";
import mammoth from "mammoth";
import ExcelJS from "exceljs";
import fs from "node:fs";
import path from "node:path";

const base = process.env.BASE_URL;
const password = process.env.PASSWORD;
const shots = process.env.SHOT_DIR;
const xssName = process.env.XSS_NAME;
const daemonHost = process.env.DAEMON_HOST;
fs.mkdirSync(shots, { recursive: true });

function expect(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

let dialogs = 0;
let cspErrors = [];
async function session(name) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on("dialog", async (d) => { dialogs += 1; await d.dismiss(); });
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  await page.goto(`${base}/`);
  expect(page.url().endsWith("/login"), `${name}: not logged in goes to the login page`);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForNavigation(), page.click("form[action='/login'] button[type=submit]")]);
  expect(!page.url().endsWith("/login"), `${name}: logged in`);
  return { ctx, page };
}

async function shot(page, file) {
  await page.screenshot({ path: path.join(shots, file), fullPage: false });
}

const navText = async (page) => (await page.locator("nav.sidenav").innerText()).replace(/\s+/g, " ");

// --- each role sees its own work (三员分立)
{
  const { ctx, page } = await session("root");
  const nav = await navText(page);
  expect(nav.includes("系统管理") && !nav.includes("审计日志") && !nav.includes("检查报告"), "admin: administration, no audit log, no reports");
  await page.goto(`${base}/admin`);
  await shot(page, "admin.png");
  const r = await page.goto(`${base}/audit`);
  expect(r.status() === 403, "admin cannot read the audit log");
  expect(!nav.includes("检查策略"), "admin: no policy in the navigation");
  const rp = await page.goto(`${base}/policy`);
  expect(rp.status() === 403, "admin cannot open the policy (三员分立)");
  await ctx.close();
}
{
  const { ctx, page } = await session("aud");
  const nav = await navText(page);
  expect(nav.includes("审计日志") && !nav.includes("系统管理"), "auditor: audit log, no administration");
  await page.goto(`${base}/audit`);
  const text = await page.locator("main").innerText();
  expect(text.includes("login.console") && text.includes("root"), "audit log lists the logins");
  await shot(page, "audit.png");
  expect((await page.locator("input[name=key]").count()) === 0, "auditor has no triage controls");
  expect(nav.includes("检查策略"), "auditor: reads the policy");
  await page.goto(`${base}/policy/file?path=media.toml`);
  expect((await page.locator("textarea").count()) === 0 && (await page.locator("main form[method=post]").count()) === 0,
    "auditor: no policy editor");
  await ctx.close();
}

// --- the security administrator's day
const { ctx, page } = await session("sec");
await shot(page, "overview.png");
const overview = await page.locator("main").innerText();
expect(/终端合规率/.test(overview) && /不合规原因分布/.test(overview), "overview shows the rate and the causes");
expect((await page.locator("svg.chart").count()) === 1, "overview draws the trend chart (server-side SVG)");

// Find a non-compliant host.
await page.goto(`${base}/hosts?status=noncompliant`);
await shot(page, "hosts.png");
const hostLinks = page.locator("table.list tbody a.strong");
expect((await hostLinks.count()) > 0, "a non-compliant host is listed");
await Promise.all([page.waitForNavigation(), hostLinks.first().click()]);
const hostText = await page.locator("main").innerText();
expect(hostText.includes("系统安全") && hostText.includes("报告链"), "host page: checks by category and the report chain");
await shot(page, "host.png");
const dl = page.locator("a[download]").first();
const [download] = await Promise.all([page.waitForEvent("download"), dl.click()]);
const jws = JSON.parse(fs.readFileSync(await download.path(), "utf8"));
expect(typeof jws.protected === "string" && typeof jws.signature === "string", "signed report downloads as the JWS");

// The hostile file name is text, and no script ran.
await page.goto(`${base}/findings?rule=${encodeURIComponent("onerror")}`);
const findingsText = await page.locator("main").innerText();
expect(findingsText.includes(xssName), "the file named like an <img> tag shows as text");
expect((await page.locator("main img").count()) === 0, "no <img> element came from agent data");
await shot(page, "findings.png");

// Open a finding and grant an exception that expires in a minute.
await page.goto(`${base}/findings?rule=${encodeURIComponent("onerror")}`);
await Promise.all([page.waitForNavigation(), page.locator("td.subject a").first().click()]);
const findingUrl = page.url();
await shot(page, "finding.png");
await page.selectOption("select[name=action]", "exception");
await page.fill("textarea[name=justification]", "保密办批准：项目验收期间临时保留");
// A one-minute waiver (the form's date field allows whole days only).
await page.evaluate(() => {
  const f = document.querySelector("form[action='/findings/triage']");
  f.querySelector("input[name=expires]").value = "";
  const m = document.createElement("input");
  m.type = "hidden"; m.name = "expires_minutes"; m.value = "1";
  f.appendChild(m);
});
await Promise.all([page.waitForNavigation(), page.click("form[action='/findings/triage'] button[type=submit]")]);
let text = await page.locator("h1").innerText();
expect(text.includes("例外"), "exception granted");
await page.goto(`${base}/findings?triage=pending&rule=${encodeURIComponent("onerror")}`);
expect(!(await page.locator("main").innerText()).includes(xssName), "waived finding leaves the pending list");
console.log("waiting 62 s for the exception to expire");
await page.waitForTimeout(62_000);
await page.goto(findingUrl);
text = await page.locator("main").innerText();
expect(text.includes("例外已到期"), "after expiry the finding is pending again");
await page.goto(`${base}/findings?triage=pending&rule=${encodeURIComponent("onerror")}`);
expect((await page.locator("main").innerText()).includes(xssName), "and back in the pending list");

// Bulk acknowledge from the list.
await page.goto(`${base}/findings?triage=pending`);
await page.locator("input.select-all").check();
await page.selectOption("#bulk select[name=action]", "acknowledged");
await Promise.all([page.waitForNavigation(), page.click("#bulk .bulkbar button[type=submit]")]);
await page.goto(`${base}/findings?triage=acknowledged`);
expect((await page.locator("input[name=key]").count()) > 0, "bulk acknowledge applied");

// Media register and alerts.
await page.goto(`${base}/media`);
await shot(page, "media.png");
await page.goto(`${base}/alerts`);
expect((await page.locator("main").innerText()).includes("非涉密终端出现涉密文件"), "alert listed in the console");
await shot(page, "alerts.png");

// Hosts delivered by the enrolled daemons (mijian-agent run over HTTP).
await page.goto(`${base}/hosts?q=${encodeURIComponent(daemonHost)}`);
const daemonRows = page.locator("table.list tbody tr", { hasText: daemonHost });
expect((await daemonRows.count()) >= 2, `both daemons' hosts are listed (${daemonHost})`);
expect((await daemonRows.first().locator(".pill").count()) > 0, "with their state");
await shot(page, "hosts-daemons.png");
await Promise.all([page.waitForNavigation(), daemonRows.first().locator("a.strong").click()]);
const dText = await page.locator("main").innerText();
expect(dText.includes(daemonHost) && dText.includes("报告链"), "a daemon's host page: its checks and report chain");

// The central policy: version, rollout, change log; an edit checked by the loader.
await page.goto(`${base}/policy`);
let pol = await page.locator("main").innerText();
expect(pol.includes("检查策略") && pol.includes("v1") && pol.includes("初始策略"), "policy page: version 1 and its change note");
expect(pol.includes("已是最新"), "policy page: the daemons run the latest version");
expect(pol.includes("本地规则"), "policy page: the imported hosts ran local rules");
await shot(page, "policy.png");
await page.goto(`${base}/policy/file?path=media.toml`);
const register = await page.locator("textarea[name=content]").inputValue();
await page.fill("textarea[name=content]", register + "\n[[medium]]\nid = \"BM-U-2026-001\"\nserial = \n");
await page.fill("input[name=message]", "登记 U 盘 BM-U-2026-001");
await Promise.all([page.waitForNavigation(), page.click("form[action='/policy/file'] button[type=submit]")]);
const err = await page.locator(".alert-box").innerText();
expect(/media\.toml:\d+/.test(err), `a broken file is refused with its file and line (${err.replace(/\s+/g, " ")})`);
await shot(page, "policy-error.png");
await page.fill("textarea[name=content]", register + "\n[[medium]]\nid = \"BM-U-2026-001\"\nserial = \"4C530001230915103392\"\nlevel = \"秘密\"\nholder = \"张三\"\n");
await Promise.all([page.waitForNavigation(), page.click("form[action='/policy/file'] button[type=submit]")]);
pol = await page.locator("main").innerText();
expect(page.url().endsWith("/policy") && pol.includes("v2") && pol.includes("BM-U-2026-001"), "the edit is published as version 2");
await page.goto(`${base}/policy/diff`);
const diff = await page.locator("pre.diff").innerText();
expect(diff.includes("+serial = \"4C530001230915103392\""), "the diff shows the added lines");
await shot(page, "policy-diff.png");
await page.goto(`${base}/policy/file?path=media.toml`);
await shot(page, "policy-file.png");
await page.goto(`${base}/audit`);

// Inspection report: printable HTML, then .docx and .xlsx opened by libraries.
await page.goto(`${base}/reports`);
await Promise.all([page.waitForNavigation(), page.click("form[action='/reports/inspection'] button[type=submit]")]);
await shot(page, "report.png");
expect((await page.locator("article.paper").innerText()).includes(xssName), "report lists the finding, as text");
const qs = new URL(page.url()).search;
const docx = await page.request.get(`${base}/reports/inspection.docx${qs}`);
expect(docx.ok(), "docx downloads");
const docText = (await mammoth.extractRawText({ buffer: Buffer.from(await docx.body()) })).value;
expect(docText.includes("终端保密检查报告") && docText.includes(xssName), "docx opens (mammoth) with title and the finding");
const xlsx = await page.request.get(`${base}/reports/findings.xlsx${qs}`);
expect(xlsx.ok(), "xlsx downloads");
const wb = new ExcelJS.Workbook();
await wb.xlsx.load(Buffer.from(await xlsx.body()));
const ws = wb.worksheets[0];
const cells = [];
ws.eachRow((row) => row.eachCell((c) => cells.push(String(c.value))));
expect(cells.includes("终端") && cells.some((c) => c.includes(xssName)), "xlsx opens (exceljs) with header and the finding");

// English is one click away.
await page.goto(`${base}/lang/en`);
await page.goto(`${base}/`);
expect((await page.locator("main h1").innerText()).includes("Overview"), "English UI");
await shot(page, "overview-en.png");
await page.goto(`${base}/lang/zh`);

await ctx.close();
await browser.close();
expect(dialogs === 0, "no script from agent data ran (no dialog opened)");
expect(cspErrors.length === 0, `no CSP violation (${cspErrors.join(" | ")})`);
console.log("all browser checks passed");
