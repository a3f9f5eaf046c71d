"""The deployment as code, checked without Azure (no Bicep compiler installs from this project's
registries; `az bicep build --file infra/main.bicep` and `azd provision --preview` check the rest
where the Azure CLI is): the workflow can log in, azd asks nothing, names are valid for any
environment name, secrets survive deploys, and the roles the app and the operators need exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
MAIN = (ROOT / "infra" / "main.bicep").read_text()
APP = (ROOT / "infra" / "app.bicep").read_text()
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
PARAMETERS = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]


def param_block(text: str, name: str) -> str:
    """A parameter's decorators and declaration."""
    match = re.search(r"((?:@[^\n]*\n)*)param " + name + r"\b[^\n]*", text)
    assert match, name
    return match.group(0)


def test_the_deploy_job_logs_in_with_the_subject_azd_pipeline_config_creates():
    deploy = WORKFLOW["jobs"]["deploy"]
    assert "environment" not in deploy  # else the subject is ...:environment:X, which no credential names
    assert deploy["permissions"]["id-token"] == "write"
    assert {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"} <= set(deploy["env"])
    assert any("azd up --no-prompt" in step.get("run", "") for step in deploy["steps"])


def test_azd_up_asks_nothing_the_template_makes_its_resource_group():
    assert "targetScope = 'subscription'" in MAIN
    assert "Microsoft.Resources/resourceGroups" in MAIN and "output AZURE_RESOURCE_GROUP" in MAIN
    for name in ("environmentName", "location", "principalId"):
        assert name in PARAMETERS


AZD_NAMES = ["shop", "shop-prod", "Shop_Prod.eu(2)", "a", "x" * 64]


@pytest.mark.parametrize("environment", AZD_NAMES)
def test_every_name_is_valid_whatever_the_environment_is_called(environment):
    env_param = param_block(MAIN, "environmentName")
    assert "@minLength(1)" in env_param and "@maxLength(64)" in env_param
    assert re.fullmatch(r"[A-Za-z0-9\-()_.]{1,64}", environment)  # what azd accepts
    group = f"rg-{environment}"  # the only name made from it: a resource group takes 1-90 of these
    assert re.fullmatch(r"[-\w._()]{1,89}[-\w_()]", group)
    # Every resource name comes from the 13-character token (uniqueString is 13 lowercase characters).
    assert "toLower(uniqueString(subscription().id, environmentName, location))" in MAIN
    names = re.findall(r"^\s+name: '([^']*)'", APP, re.M)
    resource_names = [n for n in names if "${resourceToken}" in n]
    assert "st${resourceToken}" in resource_names
    token = "a" * 13
    storage = "st" + token
    assert re.fullmatch(r"[a-z0-9]{3,24}", storage)
    for name in resource_names:
        assert len(name.replace("${resourceToken}", token)) <= 24
    assert "environmentName" not in APP


def test_provider_keys_are_key_vault_references_so_no_deploy_wipes_them():
    assert "enableRbacAuthorization: true" in APP
    assert "keyVaultReferenceIdentity: identity.id" in APP
    assert "'4633458b-17de-408a-b874-0445c86b69e6'" in APP  # Key Vault Secrets User, for the app's identity
    for setting in ("MOLLIE_API_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SENDCLOUD_SECRET_KEY", "POSTNL_API_KEY",
                    "SENDGRID_API_KEY", "ACS_CONNECTION_STRING"):
        assert re.search(rf"^\s+{setting}: '[a-z-]+'$", APP, re.M), setting
    assert "@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${entry.value})" in APP
    # appSettings is mapped from the azd environment, and holds no secret.
    mapped = PARAMETERS["appSettings"]["value"]
    assert mapped and not any(k.endswith(("_KEY", "_SECRET", "_STRING")) for k in mapped)


def test_user_settings_cannot_override_the_identity_storage_and_telemetry():
    assert "union(appSettings, secretReferences, {" in APP  # the last object wins in union()
    ours = APP[APP.index("union(appSettings, secretReferences, {"):]
    for setting in ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "APPLICATIONINSIGHTS_CONNECTION_STRING",
                    "EMAIL_PROVIDER: emailProvider", "PYTHON_THREADPOOL_THREAD_COUNT"):
        assert setting in ours


def test_operators_get_the_data_roles_and_the_app_a_real_email_provider():
    assert "principalId: principalId" in APP and "operatorStorageRoles" in APP and "operatorVaultRole" in APP
    email = param_block(APP, "emailProvider")
    assert "'local'" not in email and "'sendgrid'" in email  # the package is read-only: no local mailbox
    count = param_block(APP, "maximumInstanceCount")
    assert "@minValue(40)" in count and "@maxValue(1000)" in count


def test_no_output_is_named_as_the_identity_libraries_read_it():
    outputs = re.findall(r"^output (\w+)", MAIN + APP, re.M)
    assert "AZURE_CLIENT_ID" not in outputs and "APP_IDENTITY_CLIENT_ID" in outputs


def test_an_unresolved_key_vault_reference_is_no_key(monkeypatch):
    from ecommerce_tasks.settings import reload_settings

    monkeypatch.setenv("MOLLIE_API_KEY", "@Microsoft.KeyVault(VaultName=kv-x;SecretName=mollie-api-key)")
    assert reload_settings().mollie_api_key == ""
    monkeypatch.undo()
    reload_settings()


def test_the_workbook_is_deployed_with_the_queries_of_the_operations_guide():
    from autopilot_local.workbook import queries, render

    assert (ROOT / "infra" / "workbook.json").read_text() == render(), "run: autopilot workbook > infra/workbook.json"
    assert "resource workbook 'Microsoft.Insights/workbooks@" in APP
    block = APP[APP.index("resource workbook"):]
    assert "sourceId: insights.id" in block and "serializedData: loadTextContent('workbook.json')" in block
    titles = [title for title, _, _ in queries()]
    for question in ("What failed today", "Poisoned", "Payments recovered", "Provider latency", "Throughput and failure rate per queue",
                     "Timer health", "Backlog", "Exceptions by type", "One order's journey"):
        assert any(t.startswith(question) for t in titles), question


def test_a_query_without_its_chart_line_is_refused():
    from autopilot_local.workbook import queries

    text = "## Queries\n\n### Something\n\n```kusto\ntraces | take 1\n```\n"
    with pytest.raises(ValueError, match="chart"):
        queries(text)
    assert queries(text.replace("```kusto\n", "```kusto\n// chart: table\n")) == [("Something", "table", "traces | take 1")]


def test_telemetry_is_sampled_at_a_fixed_percentage_and_the_hosts_duplicate_lines_are_dropped_on_azure():
    ours = APP[APP.index("union(appSettings, secretReferences, {"):]
    assert "TELEMETRY_SAMPLING_PERCENTAGE: string(telemetrySamplingPercentage)" in ours
    assert "AzureFunctionsJobHost__logging__logLevel__Function: 'Warning'" in ours
    sampling = param_block(APP, "telemetrySamplingPercentage")
    assert "@minValue(1)" in sampling and "@maxValue(100)" in sampling
    assert PARAMETERS["telemetrySamplingPercentage"]["value"] == "${TELEMETRY_SAMPLING_PERCENTAGE=100}"
    assert "telemetrySamplingPercentage: int(telemetrySamplingPercentage)" in MAIN


def test_the_template_takes_no_secret_as_a_parameter_and_would_hide_one_if_it_did():
    # Keys go to Key Vault with `az keyvault secret set`, never through a deployment parameter
    # (which the deployment history would keep); a parameter that looked like one must be @secure().
    for text in (MAIN, APP):
        for name in re.findall(r"^param (\w+)", text, re.M):
            if re.search(r"key|secret|password|connection", name, re.I):
                assert "@secure()" in param_block(text, name), name
    assert not [n for n in PARAMETERS if re.search(r"key|secret|password", n, re.I)]
