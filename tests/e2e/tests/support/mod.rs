//! The end-to-end harness: starts the whole product as it is deployed — policy-service,
//! task-scheduler replicas, the backup-service API, backup workers and the nginx gateway — as
//! separate processes on real PostgreSQL and RabbitMQ, and talks to it only through the gateway.
//!
//! With `VBS_E2E_BASE_URL` set (plus `VBS_TOKEN_SECRET` and `VBS_E2E_VOLUMES_ROOT`) the same tests
//! run against an already running stack instead, e.g. `make up` (docker compose).
//!
//! The service binaries are the ones cargo built for this test run (every service crate has
//! integration tests, so `cargo test`/`nextest` builds them into the same target directory);
//! nginx comes from the Debian package.

use std::{
    fs,
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use api_types::domain::ProjectId;
use service_kit::{
    auth::{Role, TokenKeys},
    testing::TestDatabase,
};

const SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-0123";

/// How many replicas of each scaled role to start.
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    pub schedulers: usize,
    pub workers: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Self { schedulers: 1, workers: 1 }
    }
}

pub struct Stack {
    /// The gateway: the only address tests use.
    pub base_url: String,
    pub volumes_root: PathBuf,
    secret: String,
    /// What `vbsctl` needs to reach this stack's backups (`VBS_*` variables); empty for an
    /// external stack.
    tool_env: Vec<(&'static str, String)>,
    processes: Vec<Process>,
    _databases: Vec<TestDatabase>,
    _dir: Option<TempDir>,
}

struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Stack {
    pub async fn start(topology: Topology) -> Self {
        match std::env::var("VBS_E2E_BASE_URL") {
            Ok(url) if !url.is_empty() => Self::external(url),
            _ => Self::spawn(topology, Vec::new()).await.expect("starting the stack"),
        }
    }

    /// A stack of processes of its own (never an external one) with `env` added to every
    /// service's environment (e.g. another auth strategy).
    pub async fn start_with_env(topology: Topology, env: Vec<(&'static str, String)>) -> Self {
        Self::spawn(topology, env).await.expect("starting the stack")
    }

    fn external(base_url: String) -> Self {
        let secret = std::env::var("VBS_TOKEN_SECRET").expect("VBS_TOKEN_SECRET for the external stack");
        let volumes_root = PathBuf::from(
            std::env::var("VBS_E2E_VOLUMES_ROOT").expect("VBS_E2E_VOLUMES_ROOT for the external stack"),
        );
        Self {
            base_url,
            volumes_root,
            secret,
            tool_env: Vec::new(),
            processes: Vec::new(),
            _databases: Vec::new(),
            _dir: None,
        }
    }

    async fn spawn(topology: Topology, env: Vec<(&'static str, String)>) -> anyhow::Result<Self> {
        let dir = TempDir::new("vbs-e2e")?;
        let base_db = service_kit::testing::database_url();
        let amqp = service_kit::testing::amqp_url();
        let policy_db = TestDatabase::create(&base_db, "vbs_e2e_policy")?;
        let scheduler_db = TestDatabase::create(&base_db, "vbs_e2e_scheduler")?;
        let backup_db = TestDatabase::create(&base_db, "vbs_e2e_backup")?;
        let volumes_root = dir.path().join("volumes");
        let objects = dir.path().join("objects");
        fs::create_dir_all(&volumes_root)?;
        fs::create_dir_all(&objects)?;
        let namespace = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let mut common: Vec<(&str, String)> = vec![
            ("VBS_TOKEN_SECRET", SECRET.to_owned()),
            ("VBS_AMQP_URL", amqp),
            ("VBS_AMQP_NAMESPACE", namespace),
            ("VBS_AMQP_EPHEMERAL", "true".into()),
            ("VBS_CREATE_DATABASE", "false".into()),
            ("VBS_DB_POOL_SIZE", "4".into()),
            ("RUST_LOG", "info,lapin=warn".into()),
        ];
        common.extend(env);
        let bin = binaries_dir()?;
        let mut stack = Self {
            base_url: String::new(),
            volumes_root: volumes_root.clone(),
            secret: SECRET.to_owned(),
            tool_env: vec![
                ("VBS_TOKEN_SECRET", SECRET.to_owned()),
                ("VBS_VOLUMES_ROOT", volumes_root.display().to_string()),
                ("VBS_OBJECT_STORE", objects.display().to_string()),
                ("VBS_BACKUP_DATABASE_URL", backup_db.url.clone()),
            ],
            processes: Vec::new(),
            _databases: Vec::new(),
            _dir: None,
        };

        let policy_port = free_port()?;
        stack.launch(
            &bin,
            "policy-service",
            &[],
            &common,
            &[
                ("VBS_POLICY_BIND", format!("127.0.0.1:{policy_port}")),
                ("VBS_POLICY_DATABASE_URL", policy_db.url.clone()),
            ],
            dir.path(),
        )?;

        let mut scheduler_ports = Vec::new();
        for _ in 0..topology.schedulers {
            let port = free_port()?;
            scheduler_ports.push(port);
            stack.launch(
                &bin,
                "task-scheduler",
                &[],
                &common,
                &[
                    ("VBS_SCHEDULER_BIND", format!("127.0.0.1:{port}")),
                    ("VBS_SCHEDULER_DATABASE_URL", scheduler_db.url.clone()),
                    ("VBS_SCHEDULER_TICK_SECS", "1".into()),
                ],
                dir.path(),
            )?;
        }

        let backup_env = |bind: String| -> Vec<(&'static str, String)> {
            vec![
                ("VBS_BACKUP_BIND", bind),
                ("VBS_BACKUP_DATABASE_URL", backup_db.url.clone()),
                ("VBS_VOLUMES_ROOT", volumes_root.display().to_string()),
                ("VBS_OBJECT_STORE", objects.display().to_string()),
            ]
        };
        let backup_port = free_port()?;
        stack.launch(
            &bin,
            "backup-service",
            &["--role", "api"],
            &common,
            &backup_env(format!("127.0.0.1:{backup_port}")),
            dir.path(),
        )?;
        for _ in 0..topology.workers {
            stack.launch(
                &bin,
                "backup-service",
                &["--role", "worker"],
                &common,
                &backup_env("127.0.0.1:0".into()),
                dir.path(),
            )?;
        }

        let gateway_port = free_port()?;
        let conf =
            render_gateway_config(dir.path(), gateway_port, policy_port, &scheduler_ports, backup_port)?;
        stack.launch_command(
            "nginx",
            Command::new(nginx_binary()?).args([
                "-e",
                "stderr",
                "-c",
                &conf.display().to_string(),
                "-p",
                &dir.path().display().to_string(),
                // One process: the harness stops the gateway with SIGKILL, which a master
                // would not pass on to its workers (they would outlive the test).
                "-g",
                "daemon off; master_process off;",
            ]),
            dir.path(),
        )?;
        stack.base_url = format!("http://127.0.0.1:{gateway_port}");

        let services = [format!("127.0.0.1:{policy_port}"), format!("127.0.0.1:{backup_port}")]
            .into_iter()
            .chain(scheduler_ports.iter().map(|p| format!("127.0.0.1:{p}")));
        for addr in services {
            stack.wait_healthy(&format!("http://{addr}/health")).await?;
        }
        stack.wait_healthy(&format!("{}/v2", stack.base_url)).await?;
        stack._databases = vec![policy_db, scheduler_db, backup_db];
        stack._dir = Some(dir);
        Ok(stack)
    }

    fn launch(
        &mut self,
        bin: &Path,
        name: &str,
        args: &[&str],
        common: &[(&str, String)],
        own: &[(&str, String)],
        dir: &Path,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new(bin.join(name));
        cmd.args(args);
        for (k, v) in common.iter().chain(own) {
            cmd.env(k, v);
        }
        let label = format!("{name}{}", args.last().map(|r| format!("-{r}")).unwrap_or_default());
        self.launch_command(&label, &mut cmd, dir)
    }

    fn launch_command(&mut self, label: &str, cmd: &mut Command, dir: &Path) -> anyhow::Result<()> {
        let log = dir.join(format!("{label}-{}.log", self.processes.len()));
        let out = fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {label}"))?;
        self.processes.push(Process { name: label.to_owned(), child, log });
        Ok(())
    }

    async fn wait_healthy(&mut self, url: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(res) = client.get(url).send().await
                && res.status().is_success()
            {
                return Ok(());
            }
            for p in &mut self.processes {
                if let Ok(Some(status)) = p.child.try_wait() {
                    bail!("{} exited with {status}:\n{}", p.name, tail(&p.log));
                }
            }
            if Instant::now() > deadline {
                bail!("{url} did not become healthy:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last lines of every process's log, for failure messages.
    pub fn logs(&self) -> String {
        self.processes.iter().map(|p| format!("--- {}\n{}", p.name, tail(&p.log))).collect()
    }

    /// The environment under which `vbsctl` (and `make token`) work on this stack's tokens,
    /// volumes and backups, as they do on `make run`'s by default.
    pub fn tool_env(&self) -> &[(&'static str, String)] {
        &self.tool_env
    }

    /// Every line any process logged at ERROR level, for failure messages (the tails of
    /// `logs` may have scrolled past them).
    pub fn errors(&self) -> String {
        self.processes
            .iter()
            .flat_map(|p| {
                let text = fs::read_to_string(&p.log).unwrap_or_default();
                text.lines()
                    .filter(|l| l.contains("ERROR"))
                    .map(|l| format!("{}: {l}\n", p.name))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A member's token granting `projects`, as `vbsctl token` would mint it.
    pub fn token(&self, projects: &[&str]) -> String {
        self.token_with_role(projects, Role::Member)
    }

    /// A token granting `projects` with `role`.
    pub fn token_with_role(&self, projects: &[&str], role: Role) -> String {
        let projects: Vec<ProjectId> =
            projects.iter().map(|p| ProjectId::parse(p).expect("project id")).collect();
        TokenKeys::from_secret(self.secret.as_bytes())
            .and_then(|k| k.mint("e2e", &projects, role, Duration::from_secs(3600)))
            .expect("minting a token")
    }

    /// Creates a volume of the file driver: `<root>/<project>/<volume>/disk` holding `content`.
    pub fn create_volume(&self, project: &str, content: &[u8]) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let dir = self.volumes_root.join(project).join(&id);
        fs::create_dir_all(&dir).expect("volume dir");
        fs::write(dir.join("disk"), content).expect("volume image");
        id
    }

    pub fn volume_path(&self, project: &str, volume: &str) -> PathBuf {
        self.volumes_root.join(project).join(volume).join("disk")
    }

    /// Snapshots a volume as it is now (`…/<volume>/snapshots/<id>`), returning the snapshot id.
    pub fn create_snapshot(&self, project: &str, volume: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let dir = self.volumes_root.join(project).join(volume).join("snapshots");
        fs::create_dir_all(&dir).expect("snapshots dir");
        fs::copy(self.volume_path(project, volume), dir.join(&id)).expect("snapshot copy");
        id
    }

    /// A client for `project` with a token that grants it.
    pub fn client(&self, project: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base_url.clone(),
            project: project.to_owned(),
            token: self.token(&[project]),
        }
    }

    /// Kills the `n`th process whose label starts with `prefix` (e.g. a worker), for failure
    /// scenarios.
    pub fn kill(&mut self, prefix: &str, n: usize) {
        if let Some(p) = self.processes.iter_mut().filter(|p| p.name.starts_with(prefix)).nth(n) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

fn tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `target/<profile>/` next to this test binary (`target/<profile>/deps/<test>`).
fn binaries_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).context("test binary location")?.to_path_buf();
    for name in ["policy-service", "task-scheduler", "backup-service"] {
        if !dir.join(name).exists() {
            bail!(
                "{} is missing: build the workspace's tests first (cargo nextest run --workspace)",
                dir.join(name).display()
            );
        }
    }
    Ok(dir)
}

fn nginx_binary() -> anyhow::Result<PathBuf> {
    for candidate in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return Ok(candidate.into());
        }
    }
    bail!("nginx is not installed (apt-get install nginx-light)")
}

/// The deployed gateway configuration with the compose service names replaced by this
/// stack's local ports, and its pid/temp paths moved into the stack's directory.
pub fn render_gateway_config(
    dir: &Path,
    gateway: u16,
    policy: u16,
    schedulers: &[u16],
    backup: u16,
) -> anyhow::Result<PathBuf> {
    let template = include_str!("../../../../docker/gateway/nginx.conf");
    let servers =
        |ports: &[u16]| ports.iter().map(|p| format!("server 127.0.0.1:{p};")).collect::<Vec<_>>().join(" ");
    let conf = template
        .replace("server policy-service:8080;", &servers(&[policy]))
        .replace("server task-scheduler:8080;", &servers(schedulers))
        .replace("server backup-service:8080;", &servers(&[backup]))
        .replace("listen 8080;", &format!("listen 127.0.0.1:{gateway};"))
        .replace("/tmp/vbs-gateway", &dir.join("gateway").display().to_string());
    if conf.contains(":8080;") {
        bail!("the gateway template has an upstream the harness does not know");
    }
    let path = dir.join("nginx.conf");
    fs::write(&path, conf)?;
    Ok(path)
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&path)?;
        // nginx workers may run as another user; they need to reach their temp paths.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Calls through the gateway as one project.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub project: String,
    pub token: String,
}

impl Api {
    /// Another token on the same client (e.g. another project's, to check it is refused).
    pub fn with_token(&self, token: String) -> Self {
        Self { token, ..self.clone() }
    }

    /// `path` may contain `{p}`, replaced by the project id.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.replace("{p}", &self.project))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, self.url(path)).header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request through the gateway");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Polls `check` until it yields a value, or fails after `timeout` with `what`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// A deterministic disk image mixing random, zero, text-like and repeated regions, `len` bytes
/// (not a multiple of the 64 KiB block).
pub fn mixed_image(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while out.len() < len {
        let kind = next() % 4;
        let run = (64 * 1024 + (next() % (256 * 1024)) as usize).min(len - out.len());
        match kind {
            0 => (0..run).for_each(|_| out.push(next() as u8)),
            1 => out.resize(out.len() + run, 0),
            2 => out.extend(b"backup service text line 0123456789\n".iter().cycle().take(run)),
            _ => {
                let start = out.len().saturating_sub(run);
                let copy: Vec<u8> = out[start..].to_vec();
                out.extend(copy.iter().cycle().take(run));
            }
        }
    }
    out
}
