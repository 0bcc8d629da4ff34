
runtimeoptions.v1.Options¡žBootFilesRootPath = 'C:\ContainerPlat\LinuxBootFiles'
Debug = true
DebugType = 2
SandboxIsolation = 1
SandboxPlatform = 'linux/amd64'
ScrubLogs = false
VmMemorySizeInMb = 1024
VmProcessorCount = 2

[DefaultContainerAnnotations]
'io.microsoft.container.processdumplocation' = 'C:\dumps'
