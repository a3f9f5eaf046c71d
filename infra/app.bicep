// The webshop autopilot's resources, in the resource group main.bicep creates: a Flex Consumption
// Function App that reaches its storage, Key Vault and Application Insights with a user-assigned
// managed identity. No account key is used anywhere: the storage account refuses shared keys.
targetScope = 'resourceGroup'

@description('A short, lowercase, unique token: every resource name is derived from it, never from the environment name.')
@minLength(13)
@maxLength(13)
param resourceToken string

param location string = resourceGroup().location

@description('Tags of every resource (azd-env-name among them).')
param tags object = {}

@description('Instance memory of the Flex Consumption plan, MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound of scale-out: also bounds the concurrent calls to the payment and carrier APIs.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('The deploying user or pipeline (azd: AZURE_PRINCIPAL_ID): gets the data roles operators need, and may set Key Vault secrets.')
param principalId string = ''

@description('User, or ServicePrincipal for a pipeline.')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('The e-mail provider: the package is read-only on Azure, so the local mailbox cannot work there.')
@allowed(['sendgrid', 'acs'])
param emailProvider string = 'sendgrid'

@description('The carrier: local (a PDF label, no account), sendcloud or postnl.')
@allowed(['local', 'sendcloud', 'postnl'])
param carrier string = 'local'

@description('Share of traces sent to Application Insights (whole journeys; logs and metrics are never sampled). Rows carry itemCount = 100 / this.')
@minValue(1)
@maxValue(100)
param telemetrySamplingPercentage int = 100

@description('More app settings that are not secrets (CAPTURE_ON, SHOP_NAME, ...). They cannot override the identity, storage and telemetry settings.')
param appSettings object = {}

var deploymentContainer = 'app-package'
var vaultName = 'kv-${resourceToken}'
// Provider keys live in Key Vault (set each with `az keyvault secret set`, see docs/deploy.md); the
// app settings only refer to them, so no deploy ever wipes or overwrites a key.
var secretSettings = {
  MOLLIE_API_KEY: 'mollie-api-key'
  STRIPE_API_KEY: 'stripe-api-key'
  STRIPE_WEBHOOK_SECRET: 'stripe-webhook-secret'
  SENDCLOUD_PUBLIC_KEY: 'sendcloud-public-key'
  SENDCLOUD_SECRET_KEY: 'sendcloud-secret-key'
  POSTNL_API_KEY: 'postnl-api-key'
  SENDGRID_API_KEY: 'sendgrid-api-key'
  ACS_CONNECTION_STRING: 'acs-connection-string'
  SHOP_WEBHOOK_SECRET: 'shop-webhook-secret'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${resourceToken}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${resourceToken}' // 3-24 lowercase letters and digits: 15 here, whatever the environment is called
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
  resource blobs 'blobServices' = {
    name: 'default'
    resource packages 'containers' = { name: deploymentContainer }
    resource labels 'containers' = { name: 'labels' }
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is accepted from the managed identity only
  }
}

// The operator's panels: the queries of docs/operations.md (autopilot workbook > infra/workbook.json).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(insights.id, 'webshop-autopilot-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Webshop autopilot'
    category: 'workbook'
    sourceId: insights.id
    serializedData: loadTextContent('workbook.json')
  }
}

// Data-plane roles of the identity: blobs (deployment package, host leases, labels), queues
// (triggers, fan-out, poison), tables (orders, due index, ledgers), and publishing telemetry.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): if (role.key != 'monitoringMetricsPublisher') {
  name: guid(storage.id, identity.id, role.value)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true // roles, not access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

var secretReferences = toObject(items(secretSettings), entry => entry.key, entry => '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${entry.value})')

// The operator (the deploying principal): the data roles the `autopilot` commands need against
// Azure (status, failures, poison, init), and setting the provider keys in Key Vault.
var operatorRoles = principalId == '' ? {} : {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: roles.storageQueueDataContributor
  storageTableDataContributor: roles.storageTableDataContributor
}

resource operatorStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(operatorRoles): {
  name: guid(storage.id, principalId, role.value)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: principalId
    principalType: principalType
  }
}]

resource operatorVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (principalId != '') {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${resourceToken}'
  location: location
  kind: 'functionapp,linux'
  tags: union(tags, { 'azd-service-name': 'app' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id // with only a user-assigned identity, references resolve with it
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
  }
  dependsOn: [storageRoles, insightsRole, vaultRole]

  resource settings 'config' = {
    name: 'appsettings'
    // Ours last: user settings cannot override the identity, storage and telemetry settings.
    properties: union(appSettings, secretReferences, {
      EMAIL_PROVIDER: emailProvider
      CARRIER: carrier
      // Identity-based AzureWebJobsStorage: the host and the app (ecommerce_tasks.settings) both read these.
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      AZURE_CLIENT_ID: identity.properties.clientId // the app's own: on Azure only, never an output of this template
      APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
      PAYMENTS_SCAN_SCHEDULE: '0 */2 * * * *'
      SHIPPING_LABELS_SCHEDULE: '0 */5 * * * *'
      TRACKING_SCAN_SCHEDULE: '0 */15 * * * *'
      INVENTORY_SCAN_SCHEDULE: '0 * * * * *'
      CLEANUP_SCAN_SCHEDULE: '0 0 * * * *'
      SHOP_EVENTS_QUEUE: 'shop-events'
      SHOP_OUTCOMES_QUEUE: 'shop-outcomes'
      PAYMENT_CHECKS_QUEUE: 'payment-checks'
      STOCK_UPDATES_QUEUE: 'stock-updates'
      CLEANUP_QUEUE: 'cleanup-work'
      LABEL_REQUESTS_QUEUE: 'label-requests'
      TRACKING_QUEUE: 'tracking-checks'
      NOTIFICATIONS_QUEUE: 'notifications'
      WEBHOOK_QUEUE: 'webhook-deliveries'
      // One pool for every sync function (the Python worker's); 16 keeps I/O-bound payment checks
      // near their bound at 300 ms provider latency (see docs: benchmarks), the default would be 5-6.
      PYTHON_THREADPOOL_THREAD_COUNT: '16'
      TELEMETRY_SAMPLING_PERCENTAGE: string(telemetrySamplingPercentage)
      // The host's per-invocation Executing/Executed lines duplicate the app's own rows (see
      // docs/operations.md: each invocation once); its warnings and failures stay.
      AzureFunctionsJobHost__logging__logLevel__Function: 'Warning'
    })
  }
}

output AZURE_FUNCTION_APP_NAME string = app.name
output AZURE_STORAGE_ACCOUNT string = storage.name
output AZURE_KEY_VAULT_NAME string = vault.name
output APPLICATIONINSIGHTS_NAME string = insights.name
// Not named AZURE_CLIENT_ID: the identity libraries read that name, and locally it would make the
// operator's tools try to be the app's managed identity.
output APP_IDENTITY_CLIENT_ID string = identity.properties.clientId
