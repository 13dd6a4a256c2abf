//! VBS as a drop-in of an OpenStack cloud: every service checks Keystone tokens
//! (`VBS_AUTH_STRATEGY=keystone`) against a real Keystone (`scripts/keystone.sh`), and the roles
//! Keystone assigns decide what a token may do. Each test makes its own projects, users and
//! service user, so tests share the Keystone but nothing else.

#![allow(clippy::unwrap_used, reason = "a failed step fails the scenario loudly")]

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Api, Stack, Topology, mixed_image, sha256_file};

const WAIT: Duration = Duration::from_secs(120);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The Keystone of `scripts/keystone.sh`, driven through its REST API as an operator would.
struct Keystone {
    url: String,
    admin_password: String,
    /// The virtualenv with python-openstackclient and otcextensions.
    venv: String,
    http: reqwest::Client,
}

impl Keystone {
    /// Starts it unless it runs.
    fn up() -> Self {
        let out = Command::new(service_kit::testing::repo_file("scripts/keystone.sh"))
            .arg("up")
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/keystone.sh");
        assert!(out.status.success(), "scripts/keystone.sh up failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} in {text}"))
                .to_owned()
        };
        Self {
            url: value("KEYSTONE_URL"),
            admin_password: value("KEYSTONE_ADMIN_PASSWORD"),
            venv: value("KEYSTONE_VENV"),
            http: reqwest::Client::new(),
        }
    }

    /// A password token scoped to a project (by id), from `url` (another instance of the same
    /// Keystone issues tokens every instance accepts).
    async fn token(&self, user: &str, password: &str, project: Value) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": project},
        }});
        let res = self.post_created("/auth/tokens?nocatalog", None, &body).await;
        res.headers()["X-Subject-Token"].to_str().unwrap().to_owned()
    }

    /// POSTs `body` to `path` (with `token`, if any) and expects 201. Keystone's SQLite refuses
    /// a write now and then while other tests write ("database is locked", a 500): a 5xx is
    /// asked again, as a client would.
    async fn post_created(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut attempts = 0;
        loop {
            let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
            if let Some(token) = token {
                req = req.header("X-Auth-Token", token);
            }
            let res = req.send().await.unwrap();
            if res.status().is_server_error() && attempts < 5 {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
            if res.status() != 201 {
                panic!("POST {path}: {} {}", res.status(), res.text().await.unwrap());
            }
            return res;
        }
    }

    async fn admin_token(&self) -> String {
        self.token("admin", &self.admin_password, json!({"name": "admin", "domain": {"name": "Default"}}))
            .await
    }

    async fn create(&self, admin: &str, path: &str, body: Value) -> Value {
        self.post_created(path, Some(admin), &body).await.json().await.unwrap()
    }

    /// The id of a role, creating it when it does not exist (only `service` may be missing).
    async fn role(&self, admin: &str, name: &str) -> String {
        for _ in 0..3 {
            let found: Value = self
                .http
                .get(format!("{}/roles?name={name}", self.url))
                .header("X-Auth-Token", admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = found["roles"][0]["id"].as_str() {
                return id.to_owned();
            }
            // Another test may create it at the same moment: a conflict means it exists now.
            let _ = self
                .http
                .post(format!("{}/roles", self.url))
                .header("X-Auth-Token", admin)
                .json(&json!({"role": {"name": name}}))
                .send()
                .await;
        }
        panic!("role {name} could not be found or created");
    }

    async fn project(&self, admin: &str, name: &str) -> String {
        let p =
            self.create(admin, "/projects", json!({"project": {"name": name, "domain_id": "default"}})).await;
        p["project"]["id"].as_str().unwrap().to_owned()
    }

    /// A user with `role` on `project`; returns its name (the password is the name).
    async fn user(&self, admin: &str, project: &str, role: &str) -> String {
        let name = unique("user");
        let u = self
            .create(
                admin,
                "/users",
                json!({"user": {"name": name, "password": name, "domain_id": "default"}}),
            )
            .await;
        let user = u["user"]["id"].as_str().unwrap();
        let role = self.role(admin, role).await;
        let res = self
            .http
            .put(format!("{}/projects/{project}/users/{user}/roles/{role}", self.url))
            .header("X-Auth-Token", admin)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "role assignment: {}", res.status());
        name
    }

    /// Registers VBS in the catalog, as an operator does, in a region of its own: type `vbs`
    /// (the VBS API, what otcextensions looks up) and `block-storage` (the native backup API),
    /// with Keystone's own endpoint in that region too.
    async fn register_vbs(&self, admin: &str, region: &str, gateway: &str) {
        self.create(admin, "/regions", json!({"region": {"id": region}})).await;
        // Clients look Keystone itself up in the region they are configured for.
        let identity: Value = self
            .http
            .get(format!("{}/services?type=identity", self.url))
            .header("X-Auth-Token", admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.create(
            admin,
            "/endpoints",
            json!({"endpoint": {"interface": "public", "region_id": region, "url": self.url,
                "service_id": identity["services"][0]["id"]}}),
        )
        .await;
        // `volumev3` is what cinderclient looks up.
        for (kind, path) in [("vbs", "v2"), ("block-storage", "v3"), ("volumev3", "v3")] {
            let service = self
                .create(admin, "/services", json!({"service": {"type": kind, "name": format!("vbs-{kind}")}}))
                .await;
            self.create(
                admin,
                "/endpoints",
                json!({"endpoint": {"interface": "public", "region_id": region,
                    "url": format!("{gateway}/{path}/$(project_id)s"),
                    "service_id": service["service"]["id"]}}),
            )
            .await;
        }
    }

    async fn revoke(&self, admin: &str, token: &str) {
        let res = self
            .http
            .delete(format!("{}/auth/tokens", self.url))
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}

/// Projects A and B, a member and a reader of A, a member of B, an admin (of a project of its
/// own), and the service user VBS authenticates as.
struct World {
    keystone: Keystone,
    admin_token: String,
    a: String,
    b: String,
    service_user: String,
    service_project: String,
    member_a: String,
    reader_a: String,
    member_b: String,
    admin: String,
    admin_project: String,
}

impl World {
    async fn new() -> Self {
        let keystone = Keystone::up();
        let admin_token = keystone.admin_token().await;
        let service_project_name = unique("service");
        let service_project = keystone.project(&admin_token, &service_project_name).await;
        let service_user = keystone.user(&admin_token, &service_project, "service").await;
        let a = keystone.project(&admin_token, &unique("project-a")).await;
        let b = keystone.project(&admin_token, &unique("project-b")).await;
        let admin_project = keystone.project(&admin_token, &unique("ops")).await;
        let member_a = keystone.user(&admin_token, &a, "member").await;
        let reader_a = keystone.user(&admin_token, &a, "reader").await;
        let member_b = keystone.user(&admin_token, &b, "member").await;
        let admin = keystone.user(&admin_token, &admin_project, "admin").await;
        Self {
            keystone,
            admin_token,
            a,
            b,
            service_user,
            service_project: service_project_name,
            member_a,
            reader_a,
            member_b,
            admin,
            admin_project,
        }
    }

    /// What every service needs to check tokens against `url` (default: the shared Keystone).
    fn env(&self, url: Option<&str>, cache_secs: u64) -> Vec<(&'static str, String)> {
        vec![
            ("VBS_AUTH_STRATEGY", "keystone".into()),
            ("VBS_KEYSTONE_URL", url.unwrap_or(&self.keystone.url).to_owned()),
            ("VBS_KEYSTONE_USERNAME", self.service_user.clone()),
            ("VBS_KEYSTONE_PASSWORD", self.service_user.clone()),
            ("VBS_KEYSTONE_PROJECT_NAME", self.service_project.clone()),
            ("VBS_KEYSTONE_CACHE_SECS", cache_secs.to_string()),
        ]
    }

    async fn token(&self, user: &str, project: &str) -> String {
        self.keystone.token(user, user, json!({"id": project})).await
    }
}

async fn until<F, Fut>(what: &str, mut check: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn backup_status(api: &Api, id: &str) -> String {
    let (_, b) = api.get(&format!("/v3/{{p}}/backups/{id}")).await;
    b["backup"]["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn keystone_roles_decide_what_a_token_may_do() {
    let started = Instant::now();
    let w = World::new().await;
    let stack = Stack::start_with_env(Topology::default(), w.env(None, 300)).await;
    let member = stack.client(&w.a).with_token(w.token(&w.member_a, &w.a).await);

    // A member of A runs the whole lifecycle: policy, association, execution, task, backup,
    // native backup, restore, deletion.
    let volume = stack.create_volume(&w.a, &mixed_image(3 * 1024 * 1024 + 77, 7));
    let (status, created) = member
        .post(
            "/v2/{p}/backuppolicy",
            &json!({"backup_policy_name": "keystone", "scheduled_policy": {
                "start_time": "03:00", "frequency": 1, "rentention_num": 2,
                "remain_first_backup_of_curMonth": "N", "status": "ON"}}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let policy = created["backup_policy_id"].as_str().unwrap().to_owned();
    let (status, _) = member
        .post(
            "/v2/{p}/backuppolicyresources",
            &json!({"backup_policy_id": policy, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = member.post(&format!("/v2/{{p}}/backuppolicy/{policy}/action"), &json!({})).await;
    assert_eq!(status, 204);
    let task = until("the policy's task to succeed", || async {
        let (_, t) = member.get(&format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks")).await;
        t["tasks"].as_array().and_then(|ts| ts.first().cloned()).filter(|t| t["status"] == "EXECUTE_SUCCESS")
    })
    .await;
    assert_eq!(task["resource_id"], volume.as_str());
    let snapshot = stack.create_snapshot(&w.a, &volume);
    let (status, created) = member
        .post(
            "/v2/{p}/backups",
            &json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "name": "manual"}}),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let backup = created["backup"]["id"].as_str().unwrap().to_owned();
    until("the backup", || async {
        (backup_status(&member, &backup).await == "available").then_some(Value::Null)
    })
    .await;
    let target = stack.create_volume(&w.a, &vec![0; 3 * 1024 * 1024 + 77]);
    let (status, _) = member
        .post(&format!("/v3/{{p}}/backups/{backup}/restore"), &json!({"restore": {"volume_id": target}}))
        .await;
    assert_eq!(status, 202);
    until("the restore", || async {
        (backup_status(&member, &backup).await == "available").then_some(Value::Null)
    })
    .await;
    assert_eq!(
        sha256_file(&stack.volume_path(&w.a, &target)),
        sha256_file(&stack.volume_path(&w.a, &volume))
    );

    // A reader of A reads everything and is refused every change.
    let reader = stack.client(&w.a).with_token(w.token(&w.reader_a, &w.a).await);
    for path in [
        "/v2/{p}/backuppolicy".to_owned(),
        format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks"),
        "/v2/{p}/backups/detail".to_owned(),
        format!("/v3/{{p}}/native/backups/{backup}"),
        "/v2/{p}/cloudbackups/quota".to_owned(),
    ] {
        let (status, body) = reader.get(&path).await;
        assert_eq!(status, 200, "reader GET {path}: {body}");
    }
    let writes = [
        (reqwest::Method::POST, "/v2/{p}/backuppolicy".to_owned(), Some(json!({"backup_policy_name": "x"}))),
        (reqwest::Method::DELETE, format!("/v2/{{p}}/backuppolicy/{policy}"), None),
        (reqwest::Method::POST, format!("/v2/{{p}}/backuppolicy/{policy}/action"), Some(json!({}))),
        (reqwest::Method::POST, "/v2/{p}/backups".to_owned(), Some(json!({"backup": {"volume_id": volume}}))),
        (reqwest::Method::DELETE, format!("/v3/{{p}}/backups/{backup}"), None),
        (
            reqwest::Method::POST,
            "/v2/{p}/cloudbackups".to_owned(),
            Some(json!({"backup": {"volume_id": volume}})),
        ),
    ];
    for (method, path, body) in writes {
        let (status, answer) = reader.call(method.clone(), &path, body.as_ref()).await;
        assert_eq!(status, 403, "reader {method} {path}: {answer}");
        assert!(answer.to_string().contains("member or admin"), "{answer}");
    }

    // A member of B is refused A's objects; B's own list does not show them.
    let member_b = stack.client(&w.a).with_token(w.token(&w.member_b, &w.b).await);
    for path in ["/v2/{p}/backuppolicy".to_owned(), format!("/v3/{{p}}/backups/{backup}")] {
        let (status, _) = member_b.get(&path).await;
        assert_eq!(status, 403, "member of B on A's {path}");
    }
    let b_own = stack.client(&w.b).with_token(member_b.token.clone());
    let (_, listed) = b_own.get("/v2/{p}/backups").await;
    assert_eq!(listed["backups"], json!([]));
    let b_volume = stack.create_volume(&w.b, &mixed_image(1024 * 1024, 8));
    let (status, job) =
        b_own.post("/v2/{p}/cloudbackups", &json!({"backup": {"volume_id": b_volume, "name": "of-b"}})).await;
    assert_eq!(status, 200, "{job}");
    let job = job["job_id"].as_str().unwrap().to_owned();
    until("B's backup", || async {
        let (_, j) = b_own.get(&format!("/v1/{{p}}/jobs/{job}")).await;
        (j["status"] == "SUCCESS").then_some(j)
    })
    .await;

    // An admin (of a project of its own) reads A and lists every project with all_tenants.
    let admin = stack.client(&w.a).with_token(w.token(&w.admin, &w.admin_project).await);
    let (status, _) = admin.get("/v2/{p}/backuppolicy").await;
    assert_eq!(status, 200);
    let (status, all) = admin.get("/v3/{p}/backups/detail?all_tenants=1").await;
    assert_eq!(status, 200);
    let mut projects: Vec<&str> = all["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["os-backup-project-attr:project_id"].as_str().unwrap())
        .collect();
    projects.sort_unstable();
    projects.dedup();
    let mut expected = vec![w.a.as_str(), w.b.as_str()];
    expected.sort_unstable();
    assert_eq!(projects, expected, "every project's backups");
    let (status, _) = admin.delete(&format!("/v3/{{p}}/backups/{backup}")).await;
    assert_eq!(status, 202);
    eprintln!("keystone roles scenario: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_the_cache_ttl_passed() {
    let w = World::new().await;
    let stack = Stack::start_with_env(Topology::default(), w.env(None, 2)).await;
    let token = w.token(&w.member_a, &w.a).await;
    let api = stack.client(&w.a).with_token(token.clone());
    let (status, _) = api.get("/v2/{p}/backuppolicy").await;
    assert_eq!(status, 200);
    w.keystone.revoke(&w.admin_token, &token).await;
    let revoked_at = Instant::now();
    // Refused within the TTL (2 s) and a margin, everywhere.
    let body = until("the revoked token to be refused", || async {
        let (status, body) = api.get("/v2/{p}/backuppolicy").await;
        (status == 401).then_some(body)
    })
    .await;
    assert!(revoked_at.elapsed() < Duration::from_secs(6), "refused after {:?}", revoked_at.elapsed());
    assert_eq!(body["error"]["code"], "AutoBackup.0005");
    let (status, body) = api.get("/v3/{p}/backups").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["unauthorized"].is_object(), "{body}");
}

/// A Keystone instance of this test's own (the same database and keys as the shared one, so its
/// tokens are the same), to stop and start.
struct OwnKeystone {
    port: u16,
    child: Option<Child>,
}

impl OwnKeystone {
    async fn start(port: u16) -> Self {
        let child = Command::new(service_kit::testing::repo_file("scripts/keystone.sh"))
            .args(["serve", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/v3");
        until("the test's own Keystone", || async {
            reqwest::get(&url).await.ok().filter(|r| r.status().is_success()).map(|_| Value::Null)
        })
        .await;
        Self { port, child: Some(child) }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnKeystone {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn keystone_down_is_503_and_back_up_is_served_without_a_restart() {
    let w = World::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut keystone = OwnKeystone::start(port).await;
    let url = format!("http://127.0.0.1:{port}/v3");
    let stack = Stack::start_with_env(Topology::default(), w.env(Some(&url), 300)).await;
    let first = stack.client(&w.a).with_token(w.token(&w.member_a, &w.a).await);
    let (status, _) = first.get("/v2/{p}/backuppolicy").await;
    assert_eq!(status, 200);
    // A token no service has seen yet cannot be checked while Keystone is down.
    let second = stack.client(&w.a).with_token(w.token(&w.member_a, &w.a).await);
    keystone.stop();
    let checks = [
        ("/v2/{p}/backuppolicy", "error", "AutoBackup.0503"),
        ("/v2/{p}/backups", "serviceUnavailable", "VolumeBackup.0900"),
        ("/v2/{p}/cloudbackups/quota", "error", "VolumeBackup.0900"),
    ];
    for (path, key, code) in checks {
        let (status, body) = second.get(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body[key]["code"], code, "{path}: {body}");
    }
    let (status, _) = first.get("/v2/{p}/backuppolicy").await;
    assert_eq!(status, 200, "a token validated before stays valid until its cache entry expires");

    let _keystone = OwnKeystone::start(keystone.port).await;
    let (status, body) = second.get("/v2/{p}/backups").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = second.get("/v2/{p}/backuppolicy").await;
    assert_eq!(status, 200, "{body}");
}

/// The stock command-line clients with a clouds.yaml and nothing else: password auth, the
/// endpoints from the catalog, no override, no admin token.
struct Cli {
    openstack: String,
    dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Cli {
    fn new(keystone: &Keystone, user: &str, project: &str, region: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("vbs-cli"));
        std::fs::create_dir_all(&dir).unwrap();
        let clouds = format!(
            "clouds:\n  vbs:\n    auth:\n      auth_url: {url}\n      username: {user}\n      password: {user}\n      \
             project_id: {project}\n      user_domain_name: Default\n    region_name: {region}\n    \
             identity_api_version: 3\n",
            url = keystone.url,
        );
        std::fs::write(dir.join("clouds.yaml"), clouds).unwrap();
        Self { openstack: format!("{}/bin/openstack", keystone.venv), dir: tempfile_dir::Dir(dir) }
    }

    /// Runs `openstack <args>` and returns its output, or panics with its error.
    fn run(&self, args: &[&str]) -> String {
        let started = Instant::now();
        let out = Command::new(&self.openstack)
            .args(["--os-cloud", "vbs"])
            .args(args)
            .env("OS_CLIENT_CONFIG_FILE", self.dir.0.join("clouds.yaml"))
            .env("PYTHONWARNINGS", "ignore")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "openstack {}: {}\n{stdout}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("openstack {} ({:.1} s)", args.join(" "), started.elapsed().as_secs_f64());
        stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-f", "json"]);
        serde_json::from_str(&self.run(&args)).unwrap()
    }
}

#[tokio::test]
async fn the_stock_clis_find_vbs_in_the_catalog() {
    let w = World::new().await;
    let stack = Stack::start_with_env(Topology::default(), w.env(None, 300)).await;
    let region = unique("vbs-region");
    w.keystone.register_vbs(&w.admin_token, &region, &stack.base_url).await;
    let cli = Cli::new(&w.keystone, &w.member_a, &w.a, &region);
    let image = mixed_image(2 * 1024 * 1024 + 11, 9);
    let volume = stack.create_volume(&w.a, &image);
    let target = stack.create_volume(&w.a, &vec![0; image.len()]);

    // otcextensions: the VBS policy API.
    let created = cli.json(&[
        "vbs",
        "policy",
        "create",
        "cli-policy",
        "--start_time",
        "03:00",
        "--frequency",
        "1",
        "--rentention_num",
        "2",
        "--enable",
    ]);
    let policy = created["id"].as_str().unwrap().to_owned();
    let listed = cli.json(&["vbs", "policy", "list"]);
    assert!(listed.to_string().contains(&policy), "{listed}");
    cli.run(&["vbs", "policy", "link", &policy, "--volume", &volume]);
    // (`vbs policy show` cannot work with any server: otcextensions refuses it client-side,
    // "The fetch method is not supported"; the list shows the association.)
    let listed = cli.json(&["vbs", "policy", "list"]);
    let row = listed.as_array().unwrap().iter().find(|p| p["id"] == policy.as_str()).unwrap();
    assert_eq!(row["policy_resource_count"], 1, "{row}");
    cli.run(&["vbs", "policy", "execute", &policy]);
    cli.run(&["vbs", "policy", "update", &policy, "--name", "cli-renamed"]);
    cli.run(&["vbs", "policy", "unlink", &policy, "--volume", &volume]);
    cli.run(&["vbs", "policy", "delete", &policy]);

    // openstackclient: the native backup API through the block-storage endpoint.
    let member = stack.client(&w.a).with_token(w.token(&w.member_a, &w.a).await);
    until("the policy's backup to finish", || async {
        let (_, b) = member.get("/v2/{p}/backups/detail").await;
        let done = b["backups"]
            .as_array()
            .is_some_and(|bs| !bs.is_empty() && bs.iter().all(|b| b["status"] == "available"));
        done.then_some(b)
    })
    .await;
    let backup = cli.json(&["volume", "backup", "create", &volume, "--name", "cli-backup"]);
    let id = backup["id"].as_str().unwrap().to_owned();
    until("the CLI's backup", || async {
        (backup_status(&member, &id).await == "available").then_some(Value::Null)
    })
    .await;
    let listed = cli.json(&["volume", "backup", "list"]);
    assert!(listed.to_string().contains(&id), "{listed}");
    let shown = cli.json(&["volume", "backup", "show", &id]);
    assert_eq!(shown["status"], "available", "{shown}");
    cli.run(&["volume", "backup", "restore", &id, &target, "--force"]);
    until("the restore", || async {
        (backup_status(&member, &id).await == "available").then_some(Value::Null)
    })
    .await;
    assert_eq!(
        sha256_file(&stack.volume_path(&w.a, &target)),
        sha256_file(&stack.volume_path(&w.a, &volume))
    );
    cli.run(&["volume", "backup", "delete", &id]);
    until("the deletion", || async {
        let (status, _) = member.get(&format!("/v3/{{p}}/backups/{id}")).await;
        (status == 404).then_some(Value::Null)
    })
    .await;
}

/// A clouds.yaml with one cloud per `(name, user, project)`, as a tenant writes it.
fn clouds_yaml(keystone: &Keystone, region: &str, clouds: &[(&str, &str, &str)]) -> tempfile_dir::Dir {
    let dir = std::env::temp_dir().join(unique("vbs-clouds"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = String::from("clouds:\n");
    for (name, user, project) in clouds {
        yaml.push_str(&format!(
            "  {name}:\n    auth:\n      auth_url: {url}\n      username: {user}\n      password: {user}\n      \
             project_id: {project}\n      user_domain_name: Default\n    region_name: {region}\n    \
             identity_api_version: 3\n",
            url = keystone.url,
        ));
    }
    std::fs::write(dir.join("clouds.yaml"), yaml).unwrap();
    tempfile_dir::Dir(dir)
}

/// openstacksdk, cinderclient and otcextensions with their default arguments
/// (`tests/client/stock.py`): every call they make, as a member, a reader and an admin, through
/// the catalog and the gateway. The script checks each answer; this test checks the bytes the
/// restores wrote and the calls the clients made.
#[tokio::test]
async fn stock_python_clients_with_their_defaults() {
    let w = World::new().await;
    let stack = Stack::start_with_env(Topology::default(), w.env(None, 300)).await;
    let region = unique("vbs-region");
    w.keystone.register_vbs(&w.admin_token, &region, &stack.base_url).await;
    let clouds = clouds_yaml(
        &w.keystone,
        &region,
        &[
            ("member", &w.member_a, &w.a),
            ("reader", &w.reader_a, &w.a),
            ("admin", &w.admin, &w.admin_project),
        ],
    );
    let image = mixed_image(3 * 1024 * 1024 + 17, 12);
    let volume = stack.create_volume(&w.a, &image);
    let target = stack.create_volume(&w.a, &vec![0; image.len()]);
    let report = clouds.0.join("report.json");

    let started = Instant::now();
    let status = Command::new(format!("{}/bin/python", w.keystone.venv))
        .arg(service_kit::testing::repo_file("tests/client/stock.py"))
        .env("OS_CLIENT_CONFIG_FILE", clouds.0.join("clouds.yaml"))
        .env("VBS_VOLUME", &volume)
        .env("VBS_TARGET", &target)
        .env("VBS_REGION", &region)
        .env("VBS_REPORT", &report)
        .env("PYTHONWARNINGS", "ignore")
        .status()
        .unwrap();
    assert!(status.success(), "tests/client/stock.py failed");
    eprintln!("stock.py: {:.1} s", started.elapsed().as_secs_f64());

    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    // Every restore wrote the volume's bytes (the target, and the two new volumes, which are
    // exactly the backup's size).
    let source = sha256_file(&stack.volume_path(&w.a, &volume));
    for restored in
        [target.as_str(), report["sdk_volume"].as_str().unwrap(), report["cinder_volume"].as_str().unwrap()]
    {
        assert_eq!(sha256_file(&stack.volume_path(&w.a, restored)), source, "volume {restored}");
    }
    // The calls: what each client sent and what it got, printed for the record.
    let calls = report["calls"].as_array().unwrap();
    let mut table = std::collections::BTreeSet::new();
    for c in calls {
        let path = c["path"].as_str().unwrap();
        let shape: String = path
            .split('/')
            .map(|seg| {
                if seg.len() >= 32 && seg.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-') {
                    "{id}"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        table.insert(format!(
            "{} {} {} -> {}",
            c["client"].as_str().unwrap(),
            c["method"].as_str().unwrap(),
            shape,
            c["status"]
        ));
        assert!(c["status"].as_u64().unwrap() < 500, "a 5xx: {c}");
    }
    for row in &table {
        eprintln!("{row}");
    }
    let has = |client: &str, method: &str, status: u64, fragment: &str| {
        calls.iter().any(|c| {
            c["client"] == client
                && c["method"] == method
                && c["status"] == status
                && c["path"].as_str().unwrap().contains(fragment)
        })
    };
    for (client, method, status, fragment) in [
        ("otcextensions", "POST", 200, "/backuppolicy"),
        ("otcextensions", "POST", 200, "/backuppolicyresources"),
        ("otcextensions", "GET", 200, "/backuptasks"),
        ("otcextensions", "POST", 403, "/action"),
        ("openstacksdk", "POST", 202, "/backups"),
        ("openstacksdk", "PUT", 200, "/backups/"),
        ("openstacksdk", "POST", 200, "/metadata"),
        ("openstacksdk", "DELETE", 200, "/metadata/team"),
        ("openstacksdk", "POST", 202, "/restore"),
        ("openstacksdk", "POST", 202, "/action"),
        ("openstacksdk", "POST", 403, "/action"),
        ("openstacksdk", "GET", 200, "/export_record"),
        ("cinderclient", "POST", 202, "/restore"),
        ("cinderclient", "PUT", 200, "/backups/"),
        ("cinderclient", "POST", 400, "/import_record"),
        ("cinderclient", "GET", 403, "/export_record"),
        ("cinderclient", "POST", 403, "/backups"),
    ] {
        assert!(has(client, method, status, fragment), "no {client} {method} …{fragment} -> {status}");
    }
    // openstacksdk and cinderclient negotiated the newest microversion VBS serves.
    for client in ["openstacksdk", "cinderclient"] {
        assert!(
            calls.iter().any(|c| c["client"] == client && c["microversion"] == "volume 3.64"),
            "{client} never sent volume 3.64"
        );
    }
}
