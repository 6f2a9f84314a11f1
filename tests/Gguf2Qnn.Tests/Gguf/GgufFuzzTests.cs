using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Gguf2Qnn.Gguf;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Seeded, reproducible fuzzing of the GGUF reader on real headers (stories260K and the llama.cpp vocab files).
/// Each case mutates or truncates the header and metadata region of one seed file (tensor data left alone): a count,
/// length, type id, dimension or offset field found by an independent walk of the seed set to an edge value or
/// nudged by ±3, bit flips, bytes overwritten, or a cut; one case in eight stacks 2–4 mutations. It then opens
/// the result from memory. Every case must either parse or throw <see cref="GgufFormatException"/> /
/// <see cref="NotSupportedException"/>; nothing else, no hang, and parsing may allocate no more than the file's size
/// plus <see cref="AllocationSlack"/> (GC.GetAllocatedBytesForCurrentThread around the open). 20,000 cases by default;
/// set GGUF2QNN_FUZZ_CASES for a longer run (docs/BENCHMARKS.md records one). Case i is reproducible on its own: its
/// seed file and mutations depend only on i.
/// </summary>
[Trait("Category", "Gguf")]
public sealed class GgufFuzzTests(ITestOutputHelper output)
{
    /// <summary>Allocation allowed beyond the file's size: dictionaries, tensor infos, an exception and its message.</summary>
    private const long AllocationSlack = 64 * 1024;

    private const int DefaultCases = 20_000;

    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task MutatedRealHeaders_ParseOrThrowTypedErrors_WithBoundedAllocation()
    {
        var cases = int.TryParse(Environment.GetEnvironmentVariable("GGUF2QNN_FUZZ_CASES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && c > 0 ? c : DefaultCases;
        var seeds = LoadSeeds();
        var workers = Math.Max(2, Environment.ProcessorCount);
        var results = new WorkerResult[workers];
        var current = new int[workers];
        var clock = Stopwatch.StartNew();
        using var cancel = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, workers).Select(w => Task.Factory.StartNew(
            () => results[w] = RunWorker(seeds, w, workers, cases, current, cancel.Token),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        var all = Task.WhenAll(tasks);
        if (await Task.WhenAny(all, Task.Delay(Budget)) != all)
        {
            cancel.Cancel();
            Assert.Fail($"Fuzzing did not finish in {Budget}: workers were at cases {string.Join(", ", current)} (a hang?).");
        }

        await all;
        var total = WorkerResult.Sum(results);
        output.WriteLine(
            $"{cases} cases in {clock.Elapsed.TotalSeconds:F1} s on {workers} workers: {total.Parsed} parsed, {total.FormatErrors} GgufFormatException, " +
            $"{total.NotSupported} NotSupportedException; slowest case {total.SlowestMs:F1} ms; largest allocation above file size {total.MaxOvershoot} bytes.");
        output.WriteLine("open+touch time per seed: " + string.Join(", ", total.MsPerSeed.OrderBy(p => p.Key).Select(p => $"{seeds[p.Key].Name} {p.Value / 1000:F1} s")));
        Assert.True(total.Failures.Count == 0, string.Join("\n", total.Failures.Take(10)));
        Assert.Equal(cases, total.Parsed + total.FormatErrors + total.NotSupported);
        Assert.True(total.FormatErrors > cases / 20, "too few cases hit an error path: the mutator is not reaching the structure");
        Assert.True(total.Parsed > cases / 20, "too few cases parse: the mutator is too destructive");
    }

    [Fact]
    public void SeedsParseCleanlyAndTheWalkerAgreesWithTheReader()
    {
        foreach (var seed in LoadSeeds())
        {
            using var f = GgufFile.Open(seed.Bytes, seed.Name);
            Assert.Equal(f.DataOffset, (seed.WalkEnd + f.Alignment - 1) / f.Alignment * f.Alignment);
            Assert.Equal(f.Tensors.Count > 0 ? f.DataOffset : seed.Bytes.Length, seed.HeaderEnd);
            Assert.True(seed.Fields.Length > f.Metadata.Count, seed.Name);
        }
    }

    private static WorkerResult RunWorker(Seed[] seeds, int worker, int workers, int cases, int[] current, CancellationToken cancel)
    {
        var result = new WorkerResult();
        var copies = seeds.Select(s => (byte[])s.Bytes.Clone()).ToArray();
        var undo = new List<(int Offset, byte Value)>();
        for (var i = worker; i < cases && !cancel.IsCancellationRequested; i += workers)
        {
            current[worker] = i;
            var random = new Random(unchecked((int)0x6775_6600) ^ i);
            var s = PickSeed(seeds, i, random);
            var seed = seeds[s];
            var bytes = copies[s];
            var length = bytes.Length;
            var log = new List<string>();
            var mutations = random.Next(8) == 0 ? random.Next(2, 5) : 1;
            for (var m = 0; m < mutations; m++)
            {
                length = Math.Min(length, Mutate(seed, bytes, random, undo, log));
            }

            var clock = Stopwatch.StartNew();
            var before = GC.GetAllocatedBytesForCurrentThread();
            GgufFile? file = null;
            try
            {
                file = GgufFile.Open(bytes, length, seed.Name);
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                result.Parsed++;
                result.Check(allocated, length, i, seed, log);
                Touch(file, i);
            }
            catch (GgufFormatException)
            {
                result.FormatErrors++;
                result.Check(GC.GetAllocatedBytesForCurrentThread() - before, length, i, seed, log);
            }
            catch (NotSupportedException)
            {
                result.NotSupported++;
                result.Check(GC.GetAllocatedBytesForCurrentThread() - before, length, i, seed, log);
            }
            catch (Exception ex)
            {
                result.Failures.Add($"case {i} ({seed.Name}: {string.Join("; ", log)}): {ex.GetType().Name}: {ex.Message}");
            }
            finally
            {
                file?.Dispose();
            }

            result.SlowestMs = Math.Max(result.SlowestMs, clock.Elapsed.TotalMilliseconds);
            result.MsPerSeed[s] = result.MsPerSeed.GetValueOrDefault(s) + clock.Elapsed.TotalMilliseconds;
            for (var u = undo.Count - 1; u >= 0; u--)
            {
                bytes[undo[u].Offset] = undo[u].Value;
            }

            undo.Clear();
        }

        return result;
    }

    /// <summary>
    /// Two cases in three mutate stories260K (tensor infos and a small vocabulary); the third mutates a vocab file,
    /// picked with odds inversely proportional to its size so that the 4 MB one does not dominate the run time.
    /// </summary>
    private static int PickSeed(Seed[] seeds, int caseIndex, Random random)
    {
        if (caseIndex % 3 != 0)
        {
            return 0;
        }

        var weights = seeds.Skip(1).Select(v => 1.0 / v.Bytes.Length).ToArray();
        var x = random.NextDouble() * weights.Sum();
        for (var k = 0; k < weights.Length; k++)
        {
            x -= weights[k];
            if (x < 0)
            {
                return k + 1;
            }
        }

        return seeds.Length - 1;
    }

    /// <summary>What a reader would do next: read values, view every tensor, and now and then decode strings and dequantize.</summary>
    private static void Touch(GgufFile file, int caseIndex)
    {
        foreach (var (_, v) in file.Metadata)
        {
            _ = v.ToString();
            if (caseIndex % 16 == 0 && v.Type == GgufValueType.Array && (v.Count <= 4096 || caseIndex % 512 == 0))
            {
                _ = v.Value;
            }
        }

        foreach (var t in file.Tensors)
        {
            if (t.ByteSize <= int.MaxValue)
            {
                Assert.Equal(t.ByteSize, file.GetTensorBytes(t).Length);
            }

            if (caseIndex % 8 == 1 && t.ElementCount <= 1 << 16)
            {
                _ = file.DequantizeTensor(t);
            }
        }
    }

    /// <summary>Applies one mutation inside the header region; returns the file length to use (smaller when truncating).</summary>
    private static int Mutate(Seed seed, byte[] bytes, Random random, List<(int, byte)> undo, List<string> log)
    {
        switch (random.Next(10))
        {
            case 0 or 1 or 2:
            {
                var field = seed.Fields[random.Next(seed.Fields.Length)];
                var value = Interesting(field, seed, random);
                Write(bytes, field.Offset, field.Width, value, undo);
                log.Add($"{field.Kind}@{field.Offset}={value}");
                return bytes.Length;
            }

            case 3:
            {
                var field = seed.Fields[random.Next(seed.Fields.Length)];
                var old = field.Width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(field.Offset)) : BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(field.Offset));
                var value = unchecked(old + (ulong)(long)random.Next(-3, 4));
                Write(bytes, field.Offset, field.Width, value, undo);
                log.Add($"{field.Kind}@{field.Offset}{(long)(value - old):+#;-#;+0}");
                return bytes.Length;
            }

            case 4 or 5:
            {
                var flips = random.Next(1, 5);
                for (var k = 0; k < flips; k++)
                {
                    var at = random.Next(seed.HeaderEnd);
                    Set(bytes, at, (byte)(bytes[at] ^ (1 << random.Next(8))), undo);
                    log.Add($"flip@{at}");
                }

                return bytes.Length;
            }

            case 6:
            {
                var at = random.Next(seed.HeaderEnd);
                byte[] interesting = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x09, 0x0C];
                var b = interesting[random.Next(interesting.Length)];
                Set(bytes, at, b, undo);
                log.Add($"byte@{at}=0x{b:X2}");
                return bytes.Length;
            }

            case 7:
            {
                var at = random.Next(Math.Max(1, seed.HeaderEnd - 8));
                for (var k = 0; k < 8; k++)
                {
                    Set(bytes, at + k, (byte)random.Next(256), undo);
                }

                log.Add($"random8@{at}");
                return bytes.Length;
            }

            default:
            {
                // Truncate: at a field boundary (± 1) or anywhere in the header.
                var cut = random.Next(2) == 0
                    ? Math.Clamp(seed.Fields[random.Next(seed.Fields.Length)].Offset + random.Next(-1, 2), 0, seed.HeaderEnd)
                    : random.Next(seed.HeaderEnd + 1);
                log.Add($"truncate@{cut}");
                return cut;
            }
        }
    }

    private static ulong Interesting(Field field, Seed seed, Random random)
    {
        var left = (ulong)(seed.Bytes.Length - field.Offset);
        if (field.Width == 4)
        {
            uint[] u32 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 4, 5, 15, 16, 23, 29, 30, 31, 33, 34, 39, 40, 41, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0300_0000];
            return random.Next(8) == 0 ? (uint)random.Next() : u32[random.Next(u32.Length)];
        }

        ulong[] u64 =
        [
            0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 33, 255, 256, 4096, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1UL << 32, 1UL << 48,
            long.MaxValue, (ulong)long.MaxValue + 1, ulong.MaxValue, left, left - 1, left + 1, left / 8, left / 4, (ulong)seed.Bytes.Length,
        ];
        return random.Next(8) == 0 ? (ulong)random.NextInt64() : u64[random.Next(u64.Length)];
    }

    private static void Write(byte[] bytes, int offset, int width, ulong value, List<(int, byte)> undo)
    {
        for (var k = 0; k < width && offset + k < bytes.Length; k++)
        {
            Set(bytes, offset + k, (byte)(value >> (8 * k)), undo);
        }
    }

    private static void Set(byte[] bytes, int at, byte value, List<(int, byte)> undo)
    {
        undo.Add((at, bytes[at]));
        bytes[at] = value;
    }

    private static Seed[] LoadSeeds()
    {
        var paths = new List<string> { TestPaths.Stories260K };
        paths.AddRange(Directory.GetFiles(TestPaths.Vocab, "*.gguf").Order(StringComparer.Ordinal));
        return paths.Select(p => Seed.Walk(Path.GetFileName(p), File.ReadAllBytes(p))).ToArray();
    }

    private sealed class WorkerResult
    {
        public long Parsed { get; set; }

        public long FormatErrors { get; set; }

        public long NotSupported { get; set; }

        public double SlowestMs { get; set; }

        public long MaxOvershoot { get; set; } = long.MinValue;

        public List<string> Failures { get; } = [];

        public Dictionary<int, double> MsPerSeed { get; } = [];

        public static WorkerResult Sum(IEnumerable<WorkerResult> results)
        {
            var sum = new WorkerResult();
            foreach (var r in results)
            {
                sum.Parsed += r.Parsed;
                sum.FormatErrors += r.FormatErrors;
                sum.NotSupported += r.NotSupported;
                sum.SlowestMs = Math.Max(sum.SlowestMs, r.SlowestMs);
                sum.MaxOvershoot = Math.Max(sum.MaxOvershoot, r.MaxOvershoot);
                sum.Failures.AddRange(r.Failures);
                foreach (var (k, v) in r.MsPerSeed)
                {
                    sum.MsPerSeed[k] = sum.MsPerSeed.GetValueOrDefault(k) + v;
                }
            }

            return sum;
        }

        public void Check(long allocated, int length, int caseIndex, Seed seed, List<string> log)
        {
            MaxOvershoot = Math.Max(MaxOvershoot, allocated - length);
            if (allocated > length + AllocationSlack)
            {
                Failures.Add($"case {caseIndex} ({seed.Name}: {string.Join("; ", log)}): allocated {allocated} bytes for a {length}-byte file");
            }
        }
    }

    /// <summary>A structural field of a seed file: where a count, length, type id, dimension or offset sits.</summary>
    private readonly record struct Field(int Offset, int Width, string Kind);

    /// <summary>
    /// A seed file and its structural fields, found by this test's own walk of the GGUF layout (GGUF spec, "File
    /// Structure"), independent of the reader under test.
    /// </summary>
    private sealed record Seed(string Name, byte[] Bytes, Field[] Fields, int HeaderEnd, long WalkEnd)
    {
        public static Seed Walk(string name, byte[] b)
        {
            var fields = new List<Field> { new(0, 4, "magic"), new(4, 4, "version"), new(8, 8, "tensor_count"), new(16, 8, "kv_count") };
            var tensorCount = (long)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8));
            var kvCount = (long)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16));
            var p = 24;
            long alignment = 32;
            for (var i = 0; i < kvCount; i++)
            {
                var key = String(ref p, "key_length");
                fields.Add(new(p, 4, "value_type"));
                var type = U32(ref p);
                if (key == "general.alignment")
                {
                    alignment = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p));
                }

                Value(type, ref p);
            }

            for (var i = 0; i < tensorCount; i++)
            {
                String(ref p, "tensor_name_length");
                fields.Add(new(p, 4, "n_dims"));
                var nDims = U32(ref p);
                for (var d = 0; d < nDims; d++)
                {
                    fields.Add(new(p, 8, "dim"));
                    p += 8;
                }

                fields.Add(new(p, 4, "ggml_type"));
                p += 4;
                fields.Add(new(p, 8, "tensor_offset"));
                p += 8;
            }

            var dataStart = (p + alignment - 1) / alignment * alignment;
            return new Seed(name, b, [.. fields], tensorCount > 0 ? (int)dataStart : b.Length, p);

            uint U32(ref int p)
            {
                var v = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p));
                p += 4;
                return v;
            }

            string String(ref int p, string kind)
            {
                fields.Add(new(p, 8, kind));
                var len = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p));
                var s = System.Text.Encoding.UTF8.GetString(b, p + 8, len);
                p += 8 + len;
                return s;
            }

            void Value(uint type, ref int p)
            {
                switch (type)
                {
                    case 0 or 1 or 7: p += 1; break;
                    case 2 or 3: p += 2; break;
                    case 4 or 5 or 6: p += 4; break;
                    case 10 or 11 or 12: p += 8; break;
                    case 8: String(ref p, "string_length"); break;
                    case 9:
                        fields.Add(new(p, 4, "array_type"));
                        var elem = U32(ref p);
                        fields.Add(new(p, 8, "array_count"));
                        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p));
                        p += 8;
                        for (long k = 0; k < n; k++)
                        {
                            Value(elem, ref p);
                        }

                        break;
                    default: throw new InvalidDataException($"{name}: value type {type} at {p}");
                }
            }
        }
    }
}
