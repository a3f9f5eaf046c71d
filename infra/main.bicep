// The webshop autopilot on Azure: a Flex Consumption Function App that reaches its storage and
// Application Insights with a user-assigned managed identity. No account key is used anywhere:
// the storage account does not even allow shared-key access.
targetScope = 'resourceGroup'

@description('Name prefix of every resource (letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param name string

param location string = resourceGroup().location

@description('Instance memory of the Flex Consumption plan, MB.')
@allowed([2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound of scale-out: also bounds the concurrent calls to the payment and carrier APIs.')
param maximumInstanceCount int = 40

@description('App settings of the app itself (providers, carrier, e-mail), e.g. from azd env or Key Vault references.')
param appSettings object = {}

var suffix = uniqueString(resourceGroup().id, name)
var storageName = toLower('${name}${suffix}')
var deploymentContainer = 'app-package'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(storageName, 24)
  location: location
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
  name: '${name}-logs-${suffix}'
  location: location
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is accepted from the managed identity only
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

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${name}-app-${suffix}'
  location: location
  kind: 'functionapp,linux'
  tags: { 'azd-service-name': 'app' }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
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
  dependsOn: [storageRoles, insightsRole]

  resource settings 'config' = {
    name: 'appsettings'
    properties: union({
      // Identity-based AzureWebJobsStorage: the host and the app (ecommerce_tasks.settings) both read these.
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      AZURE_CLIENT_ID: identity.properties.clientId
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
      // One pool for every sync function (the Python worker's); 16 keeps I/O-bound payment checks
      // near their bound at 300 ms provider latency (see docs: benchmarks), the default would be 5-6.
      PYTHON_THREADPOOL_THREAD_COUNT: '16'
    }, appSettings)
  }
}

output AZURE_FUNCTION_APP_NAME string = app.name
output AZURE_STORAGE_ACCOUNT string = storage.name
output APPLICATIONINSIGHTS_NAME string = insights.name
output AZURE_CLIENT_ID string = identity.properties.clientId
