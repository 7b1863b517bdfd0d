//! A small synchronous W3C WebDriver client for a chromedriver it starts itself.
//!
//! [`ChromeDriver::start`] runs chromedriver on a free loopback port (killed on drop);
//! [`Session`] opens a headless Chromium session (deleted on drop) with a download folder and
//! the performance log enabled, and offers the handful of commands the end-to-end tests need.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C web element reference key.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Errors carry a readable message (WebDriver error code and message, or transport error).
pub type Result<T> = std::result::Result<T, String>;

/// The chromedriver binary: env `CHROMEDRIVER`, default `/usr/bin/chromedriver`.
pub fn chromedriver_path() -> PathBuf {
    env_path("CHROMEDRIVER", "/usr/bin/chromedriver")
}

/// The Chromium binary: env `CHROME`, default `/usr/bin/chromium`.
pub fn chrome_path() -> PathBuf {
    env_path("CHROME", "/usr/bin/chromium")
}

fn env_path(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A chromedriver process on a free loopback port; killed on drop.
pub struct ChromeDriver {
    child: Child,
    port: u16,
    agent: ureq::Agent,
}

impl ChromeDriver {
    /// Starts `binary` and waits (up to 20 s) until it reports ready.
    pub fn start(binary: &Path) -> Result<ChromeDriver> {
        if !binary.is_file() {
            return Err(format!(
                "chromedriver not found at {} (install Debian's chromium-driver, or set CHROMEDRIVER)",
                binary.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut driver = ChromeDriver { child, port, agent: agent() };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                return Err(format!("chromedriver exited early: {status}"));
            }
            let ready = driver
                .agent
                .get(&format!("{}/status", driver.url()))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium command line for headless runs as root on CI machines.
pub fn chrome_args(user_data_dir: &Path) -> Vec<String> {
    [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-default-apps",
        "--metrics-recording-only",
        "--window-size=1280,900",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", user_data_dir.display())])
    .collect()
}

/// A WebDriver session; deleted (browser closed) on drop.
pub struct Session {
    base: String,
    agent: ureq::Agent,
}

impl Session {
    /// Opens headless Chromium (`chrome`) with a fresh profile in `user_data_dir`, downloads going
    /// to `download_dir` without prompting, and the performance (network) log enabled.
    pub fn new(driver: &ChromeDriver, chrome: &Path, user_data_dir: &Path, download_dir: &Path) -> Result<Session> {
        Session::with_args(driver, chrome, user_data_dir, download_dir, &[])
    }

    /// As [`Session::new`], with more Chromium switches (e.g. a V8 limit to simulate a
    /// small machine).
    pub fn with_args(
        driver: &ChromeDriver,
        chrome: &Path,
        user_data_dir: &Path,
        download_dir: &Path,
        extra_args: &[&str],
    ) -> Result<Session> {
        if !chrome.is_file() {
            return Err(format!(
                "Chromium not found at {} (install Debian's chromium, or set CHROME)",
                chrome.display()
            ));
        }
        let download = download_dir.display().to_string();
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": chrome.display().to_string(),
                    "args": chrome_args(user_data_dir).into_iter().chain(extra_args.iter().map(|a| a.to_string())).collect::<Vec<_>>(),
                    "prefs": {
                        "download.default_directory": download,
                        "download.prompt_for_download": false,
                        "download.directory_upgrade": true,
                        "safebrowsing.enabled": false,
                    },
                    "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false},
                },
            }}
        });
        let agent = agent();
        let value = request(&agent, "POST", &format!("{}/session", driver.url()), Some(caps))?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session: no sessionId in {value}"))?;
        let session = Session { base: format!("{}/session/{id}", driver.url()), agent };
        // Belt and braces for headless downloads: also allow them through the DevTools protocol.
        session.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": download, "eventsEnabled": false}),
        )?;
        Ok(session)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        request(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    /// Runs a Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        self.cmd("POST", "/goog/cdp/execute", Some(json!({"cmd": cmd, "params": params})))
    }

    /// Navigates and waits for the load event.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({"url": url}))).map(|_| ())
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element<'_>> {
        let v = self
            .cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})))
            .map_err(|e| format!("find {css}: {e}"))?;
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("find {css}: no element reference in {v}"))?;
        Ok(Element { session: self, id: id.to_string(), css: css.to_string() })
    }

    /// Runs synchronous JavaScript (`return ...;`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Runs asynchronous JavaScript: the last argument is the callback to call with the result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd("POST", "/execute/async", Some(json!({"script": script, "args": args})))
    }

    /// Sets the script timeout (for [`Session::execute_async`]).
    pub fn set_script_timeout(&self, timeout: Duration) -> Result<()> {
        self.cmd("POST", "/timeouts", Some(json!({"script": timeout.as_millis() as u64})))
            .map(|_| ())
    }

    /// Reads (and drains) a chromedriver log: `"performance"` or `"browser"`.
    /// Tries the current `se/log` endpoint, then the legacy `log` one.
    pub fn log(&self, kind: &str) -> Result<Vec<Value>> {
        let body = json!({"type": kind});
        let v = self
            .cmd("POST", "/se/log", Some(body.clone()))
            .or_else(|_| self.cmd("POST", "/log", Some(body)))?;
        v.as_array().cloned().ok_or_else(|| format!("log {kind}: not an array: {v}"))
    }

    /// Presses and releases each key of `keys` in turn, on whatever has the focus (WebDriver
    /// actions; special keys as in the spec, e.g. `"\u{E004}"` for Tab).
    pub fn press(&self, keys: &str) -> Result<()> {
        let steps: Vec<Value> = keys
            .chars()
            .flat_map(|c| [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})])
            .collect();
        self.cmd("POST", "/actions", Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": steps}]})))
            .map(|_| ())
    }

    /// Presses the keys of `keys` together (all down in order, then up in reverse), on whatever
    /// has the focus: `"\u{E008}\u{E015}"` is Shift+ArrowDown.
    pub fn chord(&self, keys: &str) -> Result<()> {
        let down = keys.chars().map(|c| json!({"type": "keyDown", "value": c.to_string()}));
        let up = keys.chars().rev().map(|c| json!({"type": "keyUp", "value": c.to_string()}));
        let steps: Vec<Value> = down.chain(up).collect();
        self.cmd("POST", "/actions", Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": steps}]})))
            .map(|_| ())
    }

    /// Drags the mouse on `element` from `from` to `to` (CSS pixels from the element's centre),
    /// the left button held in between (WebDriver pointer actions, in two steps of 50 ms).
    pub fn drag(&self, element: &Element<'_>, from: (i64, i64), to: (i64, i64)) -> Result<()> {
        let origin = element.as_arg();
        let to_point = |(x, y): (i64, i64), ms: u64| json!({"type": "pointerMove", "duration": ms, "origin": origin, "x": x, "y": y});
        let middle = ((from.0 + to.0) / 2, (from.1 + to.1) / 2);
        let steps = vec![
            to_point(from, 0),
            json!({"type": "pointerDown", "button": 0}),
            to_point(middle, 50),
            to_point(to, 50),
            json!({"type": "pointerUp", "button": 0}),
        ];
        let pointer = json!({"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": steps});
        self.cmd("POST", "/actions", Some(json!({"actions": [pointer]}))).map(|_| ())
    }

    /// A PNG of the whole page (beyond the viewport), through the DevTools protocol.
    pub fn screenshot_base64(&self) -> Result<String> {
        let v = self.cdp("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}))?;
        v["data"].as_str().map(String::from).ok_or_else(|| format!("screenshot: no data in {v}"))
    }

    /// Polls `f` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        loop {
            match f() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}{}",
                    last_err.map(|e| format!(" (last error: {e})")).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = request(&self.agent, "DELETE", &self.base, None);
    }
}

/// A reference to an element in a [`Session`].
pub struct Element<'s> {
    session: &'s Session,
    id: String,
    css: String,
}

impl Element<'_> {
    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Result<Value> {
        self.session
            .cmd(method, &format!("/element/{}/{what}", self.id), body)
            .map_err(|e| format!("{} {what}: {e}", self.css))
    }

    /// Clicks the element (scrolls it into view first, fails if it is not interactable).
    pub fn click(&self) -> Result<()> {
        self.cmd("POST", "click", Some(json!({}))).map(|_| ())
    }

    /// Types text; for `<input type=file>`, absolute paths joined by `\n` select those files.
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.cmd("POST", "value", Some(json!({"text": text}))).map(|_| ())
    }

    /// Clears an input.
    pub fn clear(&self) -> Result<()> {
        self.cmd("POST", "clear", Some(json!({}))).map(|_| ())
    }

    /// A DOM property (e.g. `disabled`, `href`, `value`), `Null` if absent.
    pub fn property(&self, name: &str) -> Result<Value> {
        self.cmd("GET", &format!("property/{name}"), None)
    }

    /// An attribute, `None` if absent.
    pub fn attribute(&self, name: &str) -> Result<Option<String>> {
        Ok(self.cmd("GET", &format!("attribute/{name}"), None)?.as_str().map(String::from))
    }

    /// The rendered text.
    pub fn text(&self) -> Result<String> {
        Ok(self.cmd("GET", "text", None)?.as_str().unwrap_or_default().to_string())
    }

    /// Whether the element is enabled.
    pub fn is_enabled(&self) -> Result<bool> {
        Ok(self.cmd("GET", "enabled", None)? == json!(true))
    }

    /// Whether the element is displayed.
    pub fn is_displayed(&self) -> Result<bool> {
        Ok(self.cmd("GET", "displayed", None)? == json!(true))
    }

    /// The element as a script argument.
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

/// Sends one WebDriver command; returns the response's `value`, or the WebDriver error.
fn request(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, Some(body)) => agent.post(url).send_json(body),
        (_, None) => agent.post(url).send_json(json!({})),
    };
    let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let v: Value = response
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_json()
        .map_err(|e| format!("{method} {url}: HTTP {status}, unreadable body: {e}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "HTTP {status}: {}: {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or("").lines().next().unwrap_or("")
        ))
    }
}
