using BenchmarkDotNet.Running;
using Keyward.Benchmarks.Agents;
using Keyward.Benchmarks.Propagation;

// `bench/run micro` runs every benchmark here and reads the means from the JSON export;
// `dotnet run -c Release -- --filter '*Envelope*'` runs a subset (BenchmarkDotNet's own command line).
// `bench/run agents` runs the HTTP agent-identity driver: `... agents --addr URL [--agents N] [--cold-starts N]`.
if (args.Length > 0 && args[0] == "agents")
{
    return await AgentsCommand.RunAsync(args[1..]);
}

// `bench/run nodes` runs the cross-node revocation driver: `... nodes --addr-a URL --addr-b URL [--revocations N]`.
if (args.Length > 0 && args[0] == "nodes")
{
    return await Keyward.Benchmarks.Nodes.RevocationPropagationCommand.RunAsync(args[1..]);
}

// `bench/run propagation` runs the rotation propagation driver: `... propagation --addr URL [--subscribers N] [--rounds N]`.
if (args.Length > 0 && args[0] == "propagation")
{
    return await PropagationCommand.RunAsync(args[1..]);
}

// `bench/run dyncreds` runs the dynamic PostgreSQL credentials driver: `... dyncreds --addr URL --pg-port P [--count N] [--concurrency C]`.
if (args.Length > 0 && args[0] == "dyncreds")
{
    return await Keyward.Benchmarks.DynamicCredentials.DynamicCredentialsCommand.RunAsync(args[1..]);
}

// `bench/run gateway` runs the gateway overhead driver: `... gateway --addr URL [--requests N] [--concurrency C] [--seconds S]`.
if (args.Length > 0 && args[0] == "gateway")
{
    return await Keyward.Benchmarks.Gateway.GatewayBenchmarkCommand.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
