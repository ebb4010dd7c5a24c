# lgtm-fleet: install, upgrade or reload the Grafana Alloy agent on a Windows instance.
#
# Run by the lgtm-fleet Windows SSM document (aws:runPowerShellScript, as SYSTEM) with
# Windows PowerShell 5.1. Run Command hands the document parameters over as environment
# variables (interpolationType ENV_VAR), so no parameter value is ever part of this text:
#
#   SSM_AgentConfig       Alloy configuration text (a Parameter Store value, resolved by Run Command)
#   SSM_Tenant            tenant ID, written to LGTM_TENANT
#   SSM_AlloyVersion      Alloy version to run, e.g. 1.21.0 (upgrades or downgrades to it)
#   SSM_ConfigVersion     Parameter Store version of the config, written to LGTM_CONFIG_VERSION
#   SSM_Action            install (default): install/upgrade, write config and environment, restart on change
#                         reload: write and validate the config, then POST /-/reload (no restart)
#   SSM_StopLegacyAgents  true (default) | false: stop and disable the ADOT collector service
#
# Alloy's service wrapper reads its arguments and environment from the registry key
# HKLM\SOFTWARE\GrafanaLabs\Alloy (REG_MULTI_SZ values Arguments and Environment); the
# LGTM_* variables the Alloy config reads with sys.env are written there: LGTM_TENANT,
# LGTM_INSTANCE_ID, LGTM_AVAILABILITY_ZONE, LGTM_REGION, LGTM_INSTANCE_TYPE,
# LGTM_HOSTNAME, LGTM_CONFIG_VERSION. Identity values come from IMDSv2.
#
# Overrides, for tests: LGTM_IMDS_URL (default http://169.254.169.254), LGTM_ALLOY_URL
# (default http://127.0.0.1:12345), LGTM_READY_TIMEOUT (seconds, default 60),
# LGTM_ALLOY_RELEASES_URL (default https://github.com/grafana/alloy/releases/download).
#
# Exit status is 0 on success; on failure 1, with "lgtm-fleet: <what failed>" on stderr.

$ErrorActionPreference = 'Stop'
# The progress bar slows Invoke-WebRequest downloads down by orders of magnitude on 5.1.
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

function Get-Setting([string]$Name, [string]$Default) {
    $value = [Environment]::GetEnvironmentVariable($Name)
    if ([string]::IsNullOrEmpty($value)) { return $Default }
    return $value
}

$ImdsUrl = Get-Setting 'LGTM_IMDS_URL' 'http://169.254.169.254'
$AlloyUrl = Get-Setting 'LGTM_ALLOY_URL' 'http://127.0.0.1:12345'
$ReadyTimeout = [int](Get-Setting 'LGTM_READY_TIMEOUT' '60')
$ReleasesUrl = Get-Setting 'LGTM_ALLOY_RELEASES_URL' 'https://github.com/grafana/alloy/releases/download'

$ServiceName = 'Alloy'
$ListenAddr = '127.0.0.1:12345'
$LegacyServices = @('AWSOTelCollector')
# Well-known SIDs, so localized group names do not matter.
$LogReaderGroupSids = @(
    'S-1-5-32-573', # Event Log Readers
    'S-1-5-32-558'  # Performance Monitor Users
)

# A 32-bit host would see the x86 Program Files and a redirected registry: use the 64-bit views.
$ProgramFiles64 = Get-Setting 'ProgramW6432' $env:ProgramFiles
$InstallDir = Join-Path $ProgramFiles64 'GrafanaLabs\Alloy'
$AlloyExe = Join-Path $InstallDir 'alloy-windows-amd64.exe'
$ConfigPath = Join-Path $InstallDir 'config.alloy'
$DefaultDataDir = Join-Path $env:ProgramData 'GrafanaLabs\Alloy\data'
$RegistryPath = 'SOFTWARE\GrafanaLabs\Alloy'

function Write-Log([string]$Message) {
    Write-Host "lgtm-fleet: $Message"
}

function Stop-WithError([string]$Message) {
    [Console]::Error.WriteLine("lgtm-fleet: $Message")
    exit 1
}

# Runs a native program without PowerShell 5.1 turning its stderr into terminating errors.
function Invoke-Native([string]$FilePath, [string[]]$Arguments) {
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $output = & $FilePath @Arguments 2>&1 | ForEach-Object { "$_" } | Out-String
        $exitCode = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $previous
    }
    return [pscustomobject]@{ ExitCode = $exitCode; Output = $output.Trim() }
}

# ---------------------------------------------------------------------------
# Inputs

$Action = Get-Setting 'SSM_Action' 'install'
$Tenant = Get-Setting 'SSM_Tenant' ''
$AlloyVersion = Get-Setting 'SSM_AlloyVersion' ''
$ConfigVersion = Get-Setting 'SSM_ConfigVersion' ''
$StopLegacy = Get-Setting 'SSM_StopLegacyAgents' 'true'
$AgentConfig = [Environment]::GetEnvironmentVariable('SSM_AgentConfig')

function Test-Inputs {
    if ($Action -cnotmatch '^(install|reload)$') { Stop-WithError "Action must be install or reload, got '$Action'" }
    if ($Tenant -cnotmatch '^[A-Za-z0-9_.-]{1,128}$' -or $Tenant -eq '.' -or $Tenant -eq '..') {
        Stop-WithError "Tenant must be 1-128 letters, digits, '-', '_' or '.', got '$Tenant'"
    }
    if ($AlloyVersion -cnotmatch '^[0-9]+\.[0-9]+\.[0-9]+$') { Stop-WithError "AlloyVersion must look like 1.21.0, got '$AlloyVersion'" }
    if ($ConfigVersion -cnotmatch '^[0-9]{1,19}$') { Stop-WithError "ConfigVersion must be a Parameter Store version number, got '$ConfigVersion'" }
    if ($StopLegacy -cnotmatch '^(true|false)$') { Stop-WithError "StopLegacyAgents must be true or false, got '$StopLegacy'" }
    if ($null -eq $AgentConfig) {
        Stop-WithError 'SSM_AgentConfig is not set: environment-variable parameters need SSM Agent 3.3.2746.0 or later (3.3.3572.0 or later for Parameter Store values)'
    }
    $trimmed = $AgentConfig.Trim()
    if ($trimmed.Length -eq 0) { Stop-WithError 'AgentConfig is empty' }
    # An unresolved Parameter Store reference starts with two opening braces.
    if ($trimmed.StartsWith('{' + '{')) {
        Stop-WithError 'AgentConfig reached the instance as an unresolved Parameter Store reference: update SSM Agent to 3.3.3572.0 or later'
    }
}

function Test-Platform {
    $arch = $env:PROCESSOR_ARCHITEW6432
    if (-not $arch) { $arch = $env:PROCESSOR_ARCHITECTURE }
    if ($arch -ne 'AMD64') {
        Stop-WithError "unsupported architecture ${arch}: Grafana Alloy for Windows exists for amd64 only"
    }
}

# ---------------------------------------------------------------------------
# Instance identity (IMDSv2)

$Identity = $null

function Get-Identity {
    $tokenRequest = @{
        Method     = 'Put'
        Uri        = "$ImdsUrl/latest/api/token"
        TimeoutSec = 5
        Headers    = @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }
    }
    try {
        $token = Invoke-RestMethod @tokenRequest
    } catch {
        Stop-WithError "instance metadata (IMDSv2) is unreachable at ${ImdsUrl}: cannot read the instance identity ($($_.Exception.Message))"
    }
    if (-not $token) { Stop-WithError 'instance metadata (IMDSv2) returned an empty token' }
    $headers = @{ 'X-aws-ec2-metadata-token' = "$token" }
    $read = {
        param([string]$Path, [string]$Pattern)
        try {
            $value = [string](Invoke-RestMethod -Uri "$ImdsUrl/latest/meta-data/$Path" -Headers $headers -TimeoutSec 5)
        } catch {
            Stop-WithError "instance metadata (IMDSv2) did not answer $Path at ${ImdsUrl}: $($_.Exception.Message)"
        }
        if ($value -cnotmatch $Pattern) { Stop-WithError "instance metadata returned an unexpected ${Path}: '$value'" }
        return $value
    }
    $hostName = $env:COMPUTERNAME
    try {
        $hostName = ([string](Invoke-RestMethod -Uri "$ImdsUrl/latest/meta-data/local-hostname" -Headers $headers -TimeoutSec 5)).Split(' ')[0]
    } catch {
        Write-Log "instance metadata has no local-hostname; using $hostName"
    }
    if ($hostName -cnotmatch '^[A-Za-z0-9.-]{1,253}$') { Stop-WithError "unexpected host name '$hostName'" }
    $script:Identity = [ordered]@{
        LGTM_TENANT            = $Tenant
        LGTM_INSTANCE_ID       = (& $read 'instance-id' '^i-[0-9a-f]{8,32}$')
        LGTM_AVAILABILITY_ZONE = (& $read 'placement/availability-zone' '^[a-z0-9-]{1,64}$')
        LGTM_REGION            = (& $read 'placement/region' '^[a-z0-9-]{1,64}$')
        LGTM_INSTANCE_TYPE     = (& $read 'instance-type' '^[a-z0-9.-]{1,64}$')
        LGTM_HOSTNAME          = $hostName
        LGTM_CONFIG_VERSION    = $ConfigVersion
    }
    Write-Log "instance $($Identity.LGTM_INSTANCE_ID) ($($Identity.LGTM_INSTANCE_TYPE)) in $($Identity.LGTM_AVAILABILITY_ZONE), host $hostName, tenant $Tenant"
}

# ---------------------------------------------------------------------------
# Legacy agents

function Stop-LegacyAgents {
    if ($StopLegacy -ne 'true') { return }
    foreach ($name in $LegacyServices) {
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if (-not $service) { continue }
        try {
            if ($service.Status -ne 'Stopped') {
                Write-Log "stopping legacy agent $name"
                Stop-Service -Name $name -Force
            }
            if ($service.StartType -ne 'Disabled') {
                Write-Log "disabling legacy agent $name"
                Set-Service -Name $name -StartupType Disabled
            }
        } catch {
            Stop-WithError "could not stop and disable legacy agent ${name}: $($_.Exception.Message)"
        }
    }
}

# ---------------------------------------------------------------------------
# Installation

$BinaryChanged = $false

function Get-InstalledAlloyVersion {
    if (-not (Test-Path -LiteralPath $AlloyExe)) { return '' }
    $result = Invoke-Native $AlloyExe @('--version')
    if ($result.Output -match 'version\s+v?([0-9]+\.[0-9]+\.[0-9]+)') { return $Matches[1] }
    return ''
}

function Install-Alloy {
    $current = Get-InstalledAlloyVersion
    if ($current -eq $AlloyVersion) {
        Write-Log "Alloy $AlloyVersion is already installed"
        return
    }
    if (-not $current) { $shown = 'none' } else { $shown = $current }
    Write-Log "installing Alloy $AlloyVersion (installed: $shown)"
    $url = "$ReleasesUrl/v$AlloyVersion/alloy-installer-windows-amd64.exe.zip"
    $work = Join-Path $env:TEMP ('lgtm-fleet-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $work | Out-Null
    try {
        $zip = Join-Path $work 'alloy-installer-windows-amd64.exe.zip'
        try {
            Invoke-WebRequest -Uri $url -OutFile $zip -UseBasicParsing -TimeoutSec 600
        } catch {
            Stop-WithError "could not download ${url}: $($_.Exception.Message)"
        }
        Expand-Archive -LiteralPath $zip -DestinationPath $work -Force
        $installer = Join-Path $work 'alloy-installer-windows-amd64.exe'
        if (-not (Test-Path -LiteralPath $installer)) { Stop-WithError "$url holds no alloy-installer-windows-amd64.exe" }
        $signature = Get-AuthenticodeSignature -FilePath $installer
        if ($signature.Status -eq 'HashMismatch') { Stop-WithError "the Alloy installer's signature does not match its content" }
        if ($signature.Status -ne 'Valid') { Write-Log "note: installer signature status is $($signature.Status)" }
        # /S is case-sensitive; /D= must come last and unquoted (it takes the rest of the line).
        $arguments = "/S /CONFIG=`"$ConfigPath`" /DISABLEREPORTING=yes /D=$InstallDir"
        $process = Start-Process -FilePath $installer -ArgumentList $arguments -Wait -PassThru -NoNewWindow
        if ($process.ExitCode -ne 0) { Stop-WithError "the Alloy installer exited with code $($process.ExitCode)" }
    } finally {
        Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
    }
    $installed = Get-InstalledAlloyVersion
    if ($installed -ne $AlloyVersion) {
        Stop-WithError "after installing, alloy --version reports '$installed' instead of $AlloyVersion"
    }
    $script:BinaryChanged = $true
}

# ---------------------------------------------------------------------------
# Service account

$GroupsChanged = $false

function Get-ServiceAccount {
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
    if (-not $service) { Stop-WithError "the $ServiceName service does not exist after installation" }
    return [string]$service.StartName
}

function Test-LocalSystem([string]$Account) {
    return $Account -eq '' -or $Account -eq 'LocalSystem' -or $Account -eq '.\LocalSystem' -or $Account -eq 'NT AUTHORITY\SYSTEM'
}

function Grant-LogReaderGroups {
    $account = Get-ServiceAccount
    if (Test-LocalSystem $account) {
        Write-Log 'the Alloy service runs as LocalSystem, which reads event logs and performance counters without extra groups'
        return
    }
    foreach ($sid in $LogReaderGroupSids) {
        $group = Get-LocalGroup -SID $sid
        try {
            Add-LocalGroupMember -SID $sid -Member $account
            Write-Log "added $account to $($group.Name)"
            $script:GroupsChanged = $true
        } catch [Microsoft.PowerShell.Commands.MemberExistsException] {
            # Already a member.
        } catch {
            Stop-WithError "could not add $account to $($group.Name): $($_.Exception.Message)"
        }
    }
}

# ---------------------------------------------------------------------------
# Registry: arguments and environment

function Open-AlloyKey {
    $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
    $key = $base.CreateSubKey($RegistryPath)
    if (-not $key) { Stop-WithError "cannot open HKLM\$RegistryPath" }
    return $key
}

# Note: PowerShell returns an empty array from a function as $null; callers cope with both.
function Get-MultiString($Key, [string]$Name) {
    $values = @()
    foreach ($value in @($Key.GetValue($Name, $null))) {
        if ($value) { $values += [string]$value }
    }
    return $values
}

$ArgumentsPlan = $null
$EnvironmentPlan = $null
$RegistryChanged = $false
# Set when something besides LGTM_CONFIG_VERSION changes: a running process only reads
# its environment at start, so such a change needs a restart rather than a reload.
$RegistryNeedsRestart = $false

# Keeps the service's own arguments (e.g. --stability.level and the storage path) and pins
# the HTTP server to localhost with usage reporting off.
function Get-PlannedArguments([string[]]$Current) {
    $storage = "--storage.path=$DefaultDataDir"
    $kept = @()
    foreach ($arg in @($Current)) {
        if (-not $arg) { continue }
        if ($arg -like '--storage.path=*') { $storage = $arg; continue }
        if ($arg -eq 'run' -or $arg -eq '--disable-reporting' -or $arg -like '--server.http.listen-addr=*') { continue }
        if (-not $arg.StartsWith('-')) { continue } # the positional config path
        $kept += $arg
    }
    return @('run', $ConfigPath, $storage) + $kept + @('--disable-reporting', "--server.http.listen-addr=$ListenAddr")
}

function Get-PlannedEnvironment([string[]]$Current) {
    $planned = @()
    foreach ($entry in @($Current)) {
        if ($entry -and -not $entry.StartsWith('LGTM_')) { $planned += $entry }
    }
    foreach ($name in $Identity.Keys) { $planned += "$name=$($Identity[$name])" }
    return $planned
}

function Select-WithoutConfigVersion([string[]]$Values) {
    $selected = @()
    foreach ($entry in @($Values)) {
        if ($entry -and -not $entry.StartsWith('LGTM_CONFIG_VERSION=')) { $selected += $entry }
    }
    return ($selected -join "`n")
}

function Get-RegistryPlan {
    $key = Open-AlloyKey
    try {
        $currentArgs = Get-MultiString $key 'Arguments'
        $currentEnv = Get-MultiString $key 'Environment'
    } finally {
        $key.Close()
    }
    $script:ArgumentsPlan = Get-PlannedArguments $currentArgs
    $script:EnvironmentPlan = Get-PlannedEnvironment $currentEnv
    $argsChanged = (@($currentArgs) -join "`n") -cne (@($ArgumentsPlan) -join "`n")
    $envChanged = (@($currentEnv) -join "`n") -cne (@($EnvironmentPlan) -join "`n")
    $script:RegistryChanged = $argsChanged -or $envChanged
    $script:RegistryNeedsRestart = $argsChanged -or ((Select-WithoutConfigVersion $currentEnv) -cne (Select-WithoutConfigVersion $EnvironmentPlan))
}

function Set-RegistryPlan {
    if (-not $RegistryChanged) { return }
    $key = Open-AlloyKey
    try {
        $key.SetValue('Arguments', [string[]]$ArgumentsPlan, [Microsoft.Win32.RegistryValueKind]::MultiString)
        $key.SetValue('Environment', [string[]]$EnvironmentPlan, [Microsoft.Win32.RegistryValueKind]::MultiString)
    } finally {
        $key.Close()
    }
    Write-Log "updated the Alloy service arguments and environment in HKLM\$RegistryPath"
}

# ---------------------------------------------------------------------------
# Configuration

$StagedConfig = $null
$ConfigChanged = $false

function Set-ConfigAcl([string]$Path) {
    $acl = New-Object System.Security.AccessControl.FileSecurity
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @('S-1-5-32-544', 'S-1-5-18')) { # Administrators, SYSTEM
        $principal = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($principal, 'FullControl', 'Allow')))
    }
    $account = Get-ServiceAccount
    if (-not (Test-LocalSystem $account)) {
        $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($account, 'Read', 'Allow')))
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
}

# Writes the new config next to the live one and checks it with Alloy, using the
# service's stability flags.
function New-StagedConfig {
    $content = $AgentConfig -replace "`r`n", "`n"
    if (-not $content.EndsWith("`n")) { $content += "`n" }
    $script:StagedConfig = Join-Path $InstallDir ('.config.alloy.' + [guid]::NewGuid().ToString('N'))
    [IO.File]::WriteAllText($StagedConfig, $content, (New-Object System.Text.UTF8Encoding($false)))
    Set-ConfigAcl $StagedConfig
    $flags = @($ArgumentsPlan | Where-Object { $_ -like '--stability.level=*' -or $_ -like '--feature.community-components.enabled=*' })
    $result = Invoke-Native $AlloyExe (@('validate') + $flags + @($StagedConfig))
    if ($result.ExitCode -ne 0) {
        Remove-StagedConfig
        Stop-WithError "Alloy rejected the new configuration (config version $ConfigVersion); the current one is unchanged:`n$($result.Output)"
    }
}

function Remove-StagedConfig {
    if ($StagedConfig -and (Test-Path -LiteralPath $StagedConfig)) { Remove-Item -LiteralPath $StagedConfig -Force }
    $script:StagedConfig = $null
}

function Test-ConfigUnchanged {
    if (-not (Test-Path -LiteralPath $ConfigPath)) { return $false }
    return (Get-FileHash -LiteralPath $StagedConfig).Hash -eq (Get-FileHash -LiteralPath $ConfigPath).Hash
}

function Set-StagedConfig {
    if (Test-ConfigUnchanged) {
        Remove-StagedConfig
        $script:ConfigChanged = $false
        return
    }
    Move-Item -LiteralPath $StagedConfig -Destination $ConfigPath -Force
    $script:StagedConfig = $null
    $script:ConfigChanged = $true
    Write-Log "wrote $ConfigPath (config version $ConfigVersion)"
}

# ---------------------------------------------------------------------------
# Service

$Restarted = $false

function Write-AlloyEvents {
    [Console]::Error.WriteLine('lgtm-fleet: recent Application event log entries from Alloy:')
    try {
        Get-WinEvent -LogName Application -MaxEvents 500 -ErrorAction Stop |
            Where-Object { $_.ProviderName -like '*Alloy*' } |
            Select-Object -First 20 |
            ForEach-Object { [Console]::Error.WriteLine("  $($_.TimeCreated.ToString('s')) $($_.LevelDisplayName): $($_.Message)") }
    } catch {
        [Console]::Error.WriteLine("  (could not read the event log: $($_.Exception.Message))")
    }
}

function Stop-WithEvents([string]$Message) {
    [Console]::Error.WriteLine("lgtm-fleet: $Message")
    Write-AlloyEvents
    exit 1
}

function Test-Ready {
    try {
        $response = Invoke-WebRequest -Uri "$AlloyUrl/-/ready" -UseBasicParsing -TimeoutSec 2
        return $response.StatusCode -eq 200
    } catch {
        return $false
    }
}

function Wait-Ready {
    for ($attempt = 0; $attempt -lt $ReadyTimeout; $attempt++) {
        if (Test-Ready) { return $true }
        Start-Sleep -Seconds 1
    }
    return $false
}

function Restart-Alloy([string]$Reason) {
    Write-Log "restarting $ServiceName ($Reason)"
    try {
        $service = Get-Service -Name $ServiceName
        if ($service.Status -eq 'Stopped') { Start-Service -Name $ServiceName } else { Restart-Service -Name $ServiceName -Force }
    } catch {
        Stop-WithEvents "could not restart the $ServiceName service: $($_.Exception.Message)"
    }
    $script:Restarted = $true
}

function Enable-Alloy {
    $service = Get-Service -Name $ServiceName
    if ($service.StartType -ne 'Automatic') {
        $result = Invoke-Native 'sc.exe' @('config', $ServiceName, 'start=', 'delayed-auto')
        if ($result.ExitCode -ne 0) { Stop-WithError "could not set the $ServiceName service to start automatically: $($result.Output)" }
    }
}

function Complete-Run {
    if (-not (Wait-Ready)) {
        Stop-WithEvents "Alloy did not become ready at $AlloyUrl/-/ready within ${ReadyTimeout}s"
    }
    $version = Get-InstalledAlloyVersion
    Write-Log "Alloy $version is ready: tenant $Tenant, config version $ConfigVersion, action $Action, installed=$BinaryChanged, restarted=$Restarted"
}

function Invoke-Install {
    Install-Alloy
    Grant-LogReaderGroups
    Get-RegistryPlan
    New-StagedConfig
    Set-RegistryPlan
    Set-StagedConfig
    Enable-Alloy
    if ($BinaryChanged -or $GroupsChanged -or $RegistryChanged -or $ConfigChanged) {
        Restart-Alloy "changed: binary=$BinaryChanged groups=$GroupsChanged registry=$RegistryChanged config=$ConfigChanged"
    } elseif ((Get-Service -Name $ServiceName).Status -ne 'Running') {
        Restart-Alloy 'it was not running'
    }
    Complete-Run
}

function Invoke-Reload {
    if (-not (Get-InstalledAlloyVersion)) { Stop-WithError 'Alloy is not installed on this instance: run the document with Action=install' }
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if (-not $service -or $service.Status -ne 'Running') {
        Stop-WithError 'Alloy is not running on this instance: run the document with Action=install'
    }
    Get-RegistryPlan
    New-StagedConfig
    if ($RegistryNeedsRestart) {
        # Tenant, identity or arguments changed: a reload would keep the old environment.
        Set-RegistryPlan
        Set-StagedConfig
        Restart-Alloy 'tenant, identity or arguments changed'
        Complete-Run
        return
    }
    if (Test-ConfigUnchanged) {
        Remove-StagedConfig
        Set-RegistryPlan
        Write-Log 'configuration unchanged; nothing to reload'
        Complete-Run
        return
    }
    $backup = "$ConfigPath.lgtm-fleet-previous"
    Remove-Item -LiteralPath $backup -Force -ErrorAction SilentlyContinue
    $hadConfig = Test-Path -LiteralPath $ConfigPath
    if ($hadConfig) { Copy-Item -LiteralPath $ConfigPath -Destination $backup -Force }
    Set-StagedConfig
    $refusal = $null
    try {
        Invoke-WebRequest -Uri "$AlloyUrl/-/reload" -Method Post -UseBasicParsing -TimeoutSec 30 | Out-Null
    } catch {
        # Alloy answers HTTP 400 with the reason in the body.
        $refusal = $_.Exception.Message
        if ($_.ErrorDetails -and $_.ErrorDetails.Message) { $refusal = $_.ErrorDetails.Message }
    }
    if ($null -ne $refusal) {
        if ($hadConfig) { Move-Item -LiteralPath $backup -Destination $ConfigPath -Force } else { Remove-Item -LiteralPath $ConfigPath -Force }
        Stop-WithError "Alloy refused to reload config version ${ConfigVersion}; the previous file is restored and the previous configuration keeps running:`n$refusal"
    }
    Remove-Item -LiteralPath $backup -Force -ErrorAction SilentlyContinue
    # Only now: a refused reload must not leave a newer LGTM_CONFIG_VERSION behind.
    Set-RegistryPlan
    if ($RegistryChanged) { Write-Log "LGTM_CONFIG_VERSION=$ConfigVersion reaches the process environment at the next restart" }
    Write-Log "reloaded $ConfigPath (config version $ConfigVersion) without a restart"
    Complete-Run
}

try {
    Test-Inputs
    Test-Platform
    Get-Identity
    Stop-LegacyAgents
    if ($Action -eq 'install') { Invoke-Install } else { Invoke-Reload }
    exit 0
} catch {
    Remove-StagedConfig
    [Console]::Error.WriteLine("lgtm-fleet: unexpected failure: $($_.Exception.Message) (line $($_.InvocationInfo.ScriptLineNumber))")
    exit 1
}
