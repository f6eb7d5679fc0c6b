//! `template.yaml` agrees with the code: the table the code creates (keys, index, time to
//! live), the routes `cargo lambda watch` serves, and the settings each function reads.

use std::collections::BTreeSet;

use integration_tests::TestApp;
use yaml_rust2::{Yaml, YamlLoader};

fn template() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn resources(template: &Yaml) -> Vec<(String, Yaml)> {
    template["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

fn of_type(template: &Yaml, kind: &str) -> Vec<(String, Yaml)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

/// `[(attribute, key type)]` of a key schema.
fn keys(schema: &Yaml) -> Vec<(String, String)> {
    schema
        .as_vec()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `[(attribute, key type)]` of a key schema as DynamoDB describes it.
fn created_keys(schema: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<(String, String)> {
    schema
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_table_in_the_template_is_the_table_the_code_creates() {
    let template = template();
    let table = &template["Resources"]["TimersTable"]["Properties"];
    let app = TestApp::start().await;
    let described = app
        .client
        .describe_table()
        .table_name(&app.settings.table)
        .send()
        .await
        .unwrap();
    let created = described.table().unwrap();
    let code_keys = created_keys(created.key_schema());
    assert_eq!(keys(&table["KeySchema"]), code_keys);

    let gsis = table["GlobalSecondaryIndexes"].as_vec().unwrap();
    let created_gsis = created.global_secondary_indexes();
    assert_eq!(gsis.len(), created_gsis.len());
    for created in created_gsis {
        let name = created.index_name().unwrap();
        let gsi = gsis
            .iter()
            .find(|g| g["IndexName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("index {name} is not in the template"));
        let code_keys = created_keys(created.key_schema());
        assert_eq!(keys(&gsi["KeySchema"]), code_keys, "{name}");
        assert_eq!(
            gsi["Projection"]["ProjectionType"].as_str(),
            created
                .projection()
                .and_then(|p| p.projection_type())
                .map(|t| t.as_str())
        );
    }
    let attributes: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let created_attributes: BTreeSet<(String, String)> = created
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(attributes, created_attributes);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(timers::store::dynamo::TTL_ATTRIBUTE)
    );
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
}

/// `(method, path, binary)` for every route the template gives the HTTP API.
fn template_routes(template: &Yaml) -> BTreeSet<(String, String, String)> {
    let binary_of_integration = |integration: &str| {
        let uri = &template["Resources"][integration]["Properties"]["IntegrationUri"];
        // `!GetAtt CreateTimerFunction.Arn`
        let function = uri.as_str().unwrap().trim_end_matches(".Arn").to_owned();
        template["Resources"][function.as_str()]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    of_type(template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, route)| {
            let key = route["Properties"]["RouteKey"].as_str().unwrap().to_owned();
            let (method, path) = key.split_once(' ').unwrap();
            let target = route["Properties"]["Target"].as_str().unwrap();
            let integration = target
                .trim_start_matches("integrations/${")
                .trim_end_matches('}');
            (
                method.to_owned(),
                path.to_owned(),
                binary_of_integration(integration),
            )
        })
        .collect()
}

/// `(method, path, binary)` for every route `cargo lambda watch` serves (`ANY` when unset).
fn local_routes() -> BTreeSet<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, target) in router {
        match target {
            toml::Value::String(function) => {
                routes.insert(("ANY".to_owned(), path.clone(), function.clone()));
            }
            toml::Value::Array(entries) => {
                for entry in entries {
                    routes.insert((
                        entry["method"].as_str().unwrap().to_owned(),
                        path.clone(),
                        entry["function"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            other => panic!("unexpected router entry {other:?}"),
        }
    }
    routes
}

#[test]
fn the_api_routes_match_the_local_router_and_name_real_functions() {
    let template = template();
    let routes = template_routes(&template);
    assert_eq!(routes, local_routes());
    for (_, _, binary) in &routes {
        let main = format!(
            "{}/../functions/{binary}/src/main.rs",
            env!("CARGO_MANIFEST_DIR")
        );
        assert!(
            std::path::Path::new(&main).exists(),
            "no function crate {binary}"
        );
    }
    let ping_open = of_type(&template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .find(|(_, r)| r["Properties"]["RouteKey"].as_str() == Some("ANY /timers/ping/{ping_id}"))
        .unwrap();
    assert_eq!(
        ping_open.1["Properties"]["AuthorizationType"].as_str(),
        Some("NONE"),
        "timers carry no credentials, so the ping target must stay open"
    );
}

/// The Lambda function crates: the workspace's default members.
fn lambda_crates() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    manifest["workspace"]["default-members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m.as_str()
                .unwrap()
                .trim_start_matches("functions/")
                .to_owned()
        })
        .collect()
}

#[test]
fn every_function_setting_in_the_template_is_one_the_code_reads() {
    let template = template();
    let known: BTreeSet<&str> = timers::config::VARIABLES
        .iter()
        .copied()
        .chain(["RUST_LOG"])
        .collect();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let names = |vars: &Yaml| -> Vec<String> {
        vars.as_hash()
            .map(|h| h.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    assert!(names(globals).contains(&"TABLE_NAME".to_owned()));
    let functions = of_type(&template, "AWS::Serverless::Function");
    let binaries: BTreeSet<String> = functions
        .iter()
        .map(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        binaries,
        lambda_crates(),
        "one template function per Lambda crate"
    );
    for (name, function) in functions {
        let own = &function["Properties"]["Environment"]["Variables"];
        for var in names(globals).into_iter().chain(names(own)) {
            assert!(
                known.contains(var.as_str()),
                "{name} sets {var}, which no code reads"
            );
        }
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
    }
    assert_eq!(
        template["Globals"]["Function"]["Architectures"][0].as_str(),
        Some("arm64")
    );
}

#[test]
fn the_signing_secret_comes_from_secrets_manager_and_private_targets_are_off() {
    let template = template();
    let sweeper = &template["Resources"]["SweeperFunction"]["Properties"];
    let secrets = &sweeper["Environment"]["Variables"]["WEBHOOK_SECRETS"];
    let reference = format!("{secrets:?}");
    assert!(
        reference.contains("{{resolve:secretsmanager:${SigningSecretName}:SecretString}}"),
        "WEBHOOK_SECRETS must be a dynamic reference, not a value: {reference}"
    );
    assert_eq!(
        template["Parameters"]["PrivateTargets"]["Default"].as_str(),
        Some("")
    );
    // `!Ref PrivateTargets`: the YAML reader keeps the value and drops the tag.
    let private = &template["Globals"]["Function"]["Environment"]["Variables"]["PRIVATE_TARGETS"];
    assert_eq!(private.as_str(), Some("PrivateTargets"), "{private:?}");
}

#[test]
fn the_sweepers_timeout_holds_a_whole_run_and_its_longest_last_call() {
    let template = template();
    let sweeper = &template["Resources"]["SweeperFunction"]["Properties"];
    // The largest value a sweeper setting can take: a literal, or the bound of the parameter
    // it names (`!Ref`: the YAML reader keeps the name and drops the tag).
    let largest = |name: &str| -> Option<String> {
        let value = &sweeper["Environment"]["Variables"][name];
        match value.as_str() {
            Some(parameter) => {
                let bound = &template["Parameters"][parameter]["MaxValue"];
                Some(
                    bound
                        .as_i64()
                        .expect("a numeric parameter has a MaxValue")
                        .to_string(),
                )
            }
            None => value.as_i64().map(|v| v.to_string()),
        }
    };
    let settings = timers::config::Settings::from_lookup(|name| match name {
        "TABLE_NAME" => Some("timers".to_owned()),
        "CALL_TIMEOUT_MS" | "SWEEP_RUN_SECONDS" => largest(name),
        _ => None,
    })
    .unwrap()
    .sweep;
    let timeout = sweeper["Timeout"]
        .as_i64()
        .expect("the sweeper sets its Timeout");

    // A run stops claiming at the earlier of its length and its deadline less the wind-down;
    // a timeout shorter than both would cut the run short of the next trigger.
    let needed = settings.run_for + settings.wind_down(timers::store::dynamo::OPERATION_TIMEOUT);
    assert!(
        std::time::Duration::from_secs(timeout as u64) >= needed,
        "Timeout {timeout} s is shorter than a run ({:?}) plus its wind-down ({needed:?} in all)",
        settings.run_for
    );
    assert!(
        settings.run_for > std::time::Duration::from_secs(60),
        "a run outlasts the one-minute schedule, so runs overlap"
    );
}
