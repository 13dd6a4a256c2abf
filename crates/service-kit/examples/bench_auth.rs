//! The cost of authentication: request latency of one route behind `ProjectAccess` with a local
//! token, with a Keystone token already validated (cached), and with a token Keystone validates
//! for the first time (cold). `make bench-auth` runs it in release mode against the Keystone of
//! `scripts/keystone.sh` and prints p50 / p99 of each.

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark: fail loudly, print figures")]

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use api_types::domain::ProjectId;
use serde_json::{Value, json};
use service_kit::{
    auth::{Authenticator, Keystone, KeystoneConfig, ProjectAccess, Read, Role, TokenKeys},
    http::Vbs,
};

const WARM_REQUESTS: usize = 2000;
const COLD_REQUESTS: usize = 100;

async fn ping(_: ProjectAccess<Vbs, Read>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Serves the one route with `authenticator`; returns its base URL.
fn serve(authenticator: Authenticator) -> String {
    let authenticator = web::Data::new(authenticator);
    let server = HttpServer::new(move || {
        App::new().app_data(authenticator.clone()).route("/v2/{project_id}/ping", web::get().to(ping))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    format!("http://{addr}")
}

/// Latencies of one request each per token (the same token again and again, or one per request).
async fn measure(http: &reqwest::Client, url: &str, tokens: &[String], n: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let token = &tokens[i % tokens.len()];
        let started = Instant::now();
        let res = http.get(url).header("X-Auth-Token", token).send().await.unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

fn row(name: &str, l: &[Duration]) {
    let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)].as_secs_f64() * 1000.0;
    println!("| {name} | {} | {:.3} | {:.3} | {:.3} |", l.len(), at(0.5), at(0.99), at(1.0));
}

/// A Keystone project, a member user of it and its password token factory.
struct Tenant {
    keystone: String,
    project: String,
    user: String,
    http: reqwest::Client,
}

impl Tenant {
    async fn token(&self, user: &str, password: &str, scope: Value) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}}, "scope": scope}});
        let res = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.keystone))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.headers()["X-Subject-Token"].to_str().unwrap().to_owned()
    }

    async fn create(keystone: &str, admin_password: &str) -> (Self, String, String) {
        let http = reqwest::Client::new();
        let mut t = Self { keystone: keystone.into(), project: String::new(), user: String::new(), http };
        let admin = t
            .token(
                "admin",
                admin_password,
                json!({"project": {"name": "admin", "domain": {"name": "Default"}}}),
            )
            .await;
        let post = |path: &str, body: Value| {
            let req = t.http.post(format!("{keystone}{path}")).header("X-Auth-Token", &admin).json(&body);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let project = post(
            "/projects",
            json!({"project": {"name": format!("bench-{suffix}"), "domain_id": "default"}}),
        )
        .await;
        let project = project["project"]["id"].as_str().unwrap().to_owned();
        let service_project = post(
            "/projects",
            json!({"project": {"name": format!("bench-svc-{suffix}"), "domain_id": "default"}}),
        )
        .await;
        let service_project = service_project["project"]["id"].as_str().unwrap().to_owned();
        let mut users = Vec::new();
        for (name, on, role) in [
            (format!("bench-{suffix}"), &project, "member"),
            (format!("bench-svc-{suffix}"), &service_project, "service"),
        ] {
            let user =
                post("/users", json!({"user": {"name": name, "password": name, "domain_id": "default"}}))
                    .await;
            let user = user["user"]["id"].as_str().unwrap().to_owned();
            let roles: Value = t
                .http
                .get(format!("{keystone}/roles?name={role}"))
                .header("X-Auth-Token", &admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let role_id = match roles["roles"][0]["id"].as_str() {
                Some(id) => id.to_owned(),
                None => post("/roles", json!({"role": {"name": role}})).await["role"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            };
            t.http
                .put(format!("{keystone}/projects/{on}/users/{user}/roles/{role_id}"))
                .header("X-Auth-Token", &admin)
                .send()
                .await
                .unwrap();
            users.push(name);
        }
        t.project = project;
        t.user = users[0].clone();
        (t, users[1].clone(), format!("bench-svc-{suffix}"))
    }
}

#[tokio::main]
async fn main() {
    let keystone = std::env::var("KEYSTONE_URL").unwrap_or_else(|_| "http://127.0.0.1:35357/v3".into());
    let admin_password = std::env::var("KEYSTONE_ADMIN_PASSWORD").unwrap_or_else(|_| "vbs-test-admin".into());
    let (tenant, service_user, service_project) = Tenant::create(&keystone, &admin_password).await;
    let http = reqwest::Client::new();
    println!(
        "Authentication cost (one route behind ProjectAccess; sequential requests on one keep-alive connection)"
    );
    println!();
    println!("| strategy | requests | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");

    let keys = TokenKeys::from_secret(b"bench-secret-bench-secret-bench-secret").unwrap();
    let project = ProjectId::parse(&tenant.project).unwrap();
    let local_token = keys.mint("bench", &[project], Role::Member, Duration::from_secs(600)).unwrap();
    let local = serve(Authenticator::Local(keys));
    let url = format!("{local}/v2/{}/ping", tenant.project);
    measure(&http, &url, std::slice::from_ref(&local_token), 200).await;
    row("local (signed token)", &measure(&http, &url, &[local_token], WARM_REQUESTS).await);

    let cfg = KeystoneConfig {
        url: keystone.clone(),
        username: service_user.clone(),
        password: service_user,
        project_name: service_project,
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
        cache_ttl: Duration::from_secs(300),
    };
    let ks = serve(Authenticator::Keystone(Keystone::new(cfg).unwrap()));
    let url = format!("{ks}/v2/{}/ping", tenant.project);
    let mut fresh = Vec::new();
    for _ in 0..COLD_REQUESTS + 1 {
        fresh
            .push(tenant.token(&tenant.user, &tenant.user, json!({"project": {"id": tenant.project}})).await);
    }
    let first = fresh.pop().unwrap();
    measure(&http, &url, std::slice::from_ref(&first), 200).await;
    row("keystone, cached token", &measure(&http, &url, &[first], WARM_REQUESTS).await);
    row("keystone, cold (first use of each token)", &measure(&http, &url, &fresh, COLD_REQUESTS).await);
}
