// The webshop autopilot on Azure, for `azd up`: subscription-scoped, so it creates its own resource
// group (azd needs no AZURE_RESOURCE_GROUP and asks nothing), then the app's resources in it.
targetScope = 'subscription'

@description('The azd environment name: 1-64 letters, digits, -, _, ., ( and ). It names the resource group only; every resource name comes from a token derived from it.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every resource.')
@minLength(1)
param location string

@description('The deploying principal (azd fills AZURE_PRINCIPAL_ID): operator roles on the data, and Key Vault secrets.')
param principalId string = ''

@description('User for a person, ServicePrincipal for the pipeline.')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@allowed(['sendgrid', 'acs'])
param emailProvider string = 'sendgrid'

@allowed(['local', 'sendcloud', 'postnl'])
param carrier string = 'local'

@description('Share of traces sent to Application Insights, 1-100 (a string: azd substitutes parameters as text).')
param telemetrySamplingPercentage string = '100'

@description('More app settings that are not secrets (CAPTURE_ON, SHOP_NAME, ...).')
param appSettings object = {}

var tags = { 'azd-env-name': environmentName }
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app.bicep' = {
  name: 'webshop-autopilot'
  scope: group
  params: {
    resourceToken: resourceToken
    location: location
    tags: tags
    principalId: principalId
    principalType: principalType
    emailProvider: emailProvider
    carrier: carrier
    telemetrySamplingPercentage: int(telemetrySamplingPercentage)
    appSettings: appSettings
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.AZURE_FUNCTION_APP_NAME
output AZURE_STORAGE_ACCOUNT string = app.outputs.AZURE_STORAGE_ACCOUNT
output AZURE_KEY_VAULT_NAME string = app.outputs.AZURE_KEY_VAULT_NAME
output APPLICATIONINSIGHTS_NAME string = app.outputs.APPLICATIONINSIGHTS_NAME
output APP_IDENTITY_CLIENT_ID string = app.outputs.APP_IDENTITY_CLIENT_ID
