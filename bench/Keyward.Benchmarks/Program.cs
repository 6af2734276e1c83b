using BenchmarkDotNet.Running;

// `bench/run micro` runs every benchmark here and reads the means from the JSON export;
// `dotnet run -c Release -- --filter '*Envelope*'` runs a subset (BenchmarkDotNet's own command line).
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
