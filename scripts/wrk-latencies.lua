-- wrk script for scripts/gateway-bench.sh: at the end of a run, writes every latency as
-- "microseconds count" lines, ascending, to the file named by WRK_LATENCIES, so the benchmark
-- can pool the latencies of several runs (grpc_load's --latencies writes the same format).
done = function(summary, latency, requests)
    local path = os.getenv("WRK_LATENCIES")
    if not path then
        return
    end
    local out = assert(io.open(path, "w"))
    for i = 1, #latency do
        local value, count = latency(i)
        out:write(string.format("%d %d\n", value, count))
    end
    out:close()
end
