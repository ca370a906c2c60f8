package dev.kvraft.shell.commands;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.TxnResult;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Format;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.Tokenizer;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code txn}: an atomic transaction entered as three blocks, like {@code etcdctl txn -i}: compares, then the
 * requests to run if they all hold, then the ones to run otherwise; each block ends with an empty line.
 */
public final class TxnCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("txn", Group.TRANSACTIONS,
      "  (then: compares, success requests, failure requests; each block ends with an empty line)",
      "atomic if/then/else: compares on value, version, create or mod revision; then get/put/del",
      "txn   ⏎  value(counter) = \"41\"  ⏎  ⏎  put counter 42  ⏎  ⏎  get counter  ⏎  ⏎");

  @Override
  public Spec spec() {
    return SPEC;
  }

  private static final Pattern COMPARE =
      Pattern.compile("^\\s*(value|version|create|mod)\\s*\\((.+)\\)\\s*(=|==|!=|<|>)\\s*(.*)$");

  @Override
  public void run(List<String> words, ShellContext ctx) {
    Args.parse(words, Set.of(), Set.of()).expect(0, 0);
    var txn = Txn.newBuilder();
    for (var line : block(ctx, "compares:", "compare> ")) {
      txn.addCompare(compare(line));
    }
    for (var line : block(ctx, "success requests (get, put, del):", "success> ")) {
      txn.addSuccess(op(line));
    }
    for (var line : block(ctx, "failure requests (get, put, del):", "failure> ")) {
      txn.addFailure(op(line));
    }
    var built = txn.build();
    var result = ctx.client().txn(built);
    if (ctx.format() == Format.JSON) {
      ctx.out().println(Output.toJson(json(built, result)));
      return;
    }
    lines(built, result).forEach(ctx.out()::println);
  }

  /** A get left out of a txn's answer (it reached limit.answer.bytes): the key exists, and is read on its own. */
  private static final String LEFT_OUT = "(left out: the txn's answer reached the node's limit.answer.bytes; get it"
      + " on its own)";

  /** The answer as kvsh prints it: SUCCESS or FAILURE, then a line per request of the branch that ran. */
  static List<String> lines(Txn built, TxnResult result) {
    var ops = result.getSucceeded() ? built.getSuccessList() : built.getFailureList();
    var lines = new ArrayList<String>();
    lines.add(result.getSucceeded() ? "SUCCESS" : "FAILURE");
    for (int i = 0; i < result.getResultsCount(); i++) {
      var r = result.getResults(i);
      switch (r.getResultCase()) {
        case GET -> {
          var key = Output.show(ops.get(i).getGet().getKey());
          lines.add(r.getGet().hasKv() ? key + " = " + Output.show(r.getGet().getKv().getValue())
              : r.getGet().getTruncated() ? key + " " + LEFT_OUT : key + " (not found)");
        }
        case PUT -> lines.add("OK");
        case DELETE -> lines.add("deleted " + r.getDelete().getDeleted());
        default -> { }
      }
    }
    return lines;
  }

  /** The answer with --format json: a get's key-value, null when not found, or {"truncated": true}. */
  static Map<String, Object> json(Txn built, TxnResult result) {
    var m = new LinkedHashMap<String, Object>();
    m.put("succeeded", result.getSucceeded());
    var list = new ArrayList<Object>();
    for (var r : result.getResultsList()) {
      switch (r.getResultCase()) {
        case GET -> list.add(r.getGet().hasKv() ? Output.json(r.getGet().getKv(), true)
            : r.getGet().getTruncated() ? Map.of("truncated", true) : null);
        case PUT -> list.add("OK");
        case DELETE -> list.add(r.getDelete().getDeleted());
        default -> list.add(null);
      }
    }
    m.put("results", list);
    return m;
  }

  /** Lines up to an empty one (or the end of input). */
  private static List<String> block(ShellContext ctx, String title, String prompt) {
    if (ctx.format() == Format.TABLE) {
      ctx.err().println(title);
    }
    var lines = new ArrayList<String>();
    while (true) {
      var line = ctx.lines().readLine(prompt);
      if (line == null || line.isBlank()) {
        return lines;
      }
      lines.add(line.strip());
    }
  }

  /** {@code value(k) = "v"}, {@code version(k) > 2}, {@code create(k) = 0}, {@code mod(k) < 10}. */
  static Compare compare(String line) {
    var m = COMPARE.matcher(line);
    if (!m.matches()) {
      throw new UsageException("cannot read compare '" + line + "': write TARGET(KEY) OP VALUE, with TARGET one of"
          + " value, version, create, mod and OP one of = != < >, e.g. value(\"k\") = \"v\"");
    }
    var key = single(m.group(2), "key", line);
    var operand = single(m.group(4), "value", line);
    var c = Compare.newBuilder().setKey(key).setOperator(switch (m.group(3)) {
      case "=", "==" -> Compare.Operator.EQUAL;
      case "!=" -> Compare.Operator.NOT_EQUAL;
      case "<" -> Compare.Operator.LESS;
      default -> Compare.Operator.GREATER;
    });
    switch (m.group(1).toLowerCase(Locale.ROOT)) {
      case "value" -> c.setTarget(Compare.Target.VALUE).setValue(operand);
      case "version" -> c.setTarget(Compare.Target.VERSION).setVersion(number(operand, line));
      case "create" -> c.setTarget(Compare.Target.CREATE_REVISION).setCreateRevision(number(operand, line));
      default -> c.setTarget(Compare.Target.MOD_REVISION).setModRevision(number(operand, line));
    }
    return c.build();
  }

  /** {@code get K}, {@code put K V}, {@code del K [END]}. */
  static Op op(String line) {
    var words = Tokenizer.split(line);
    if (words.isEmpty()) {
      throw new UsageException("empty request");
    }
    var verb = words.get(0).toLowerCase(Locale.ROOT);
    var args = Args.parse(words.subList(1, words.size()), Set.of(), Set.of());
    return switch (verb) {
      case "get" -> Op.newBuilder().setGet(Get.newBuilder().setKey(args.expect(1, 1).bytes(0))).build();
      case "put", "set" -> {
        args.expect(2, 2);
        yield Op.newBuilder().setPut(Put.newBuilder().setKey(args.bytes(0)).setValue(args.bytes(1))).build();
      }
      case "del", "delete", "rm" -> {
        args.expect(1, 2);
        yield Op.newBuilder().setDelete(Delete.newBuilder().setKey(args.bytes(0))
            .setRangeEnd(args.count() == 2 ? args.bytes(1) : ByteString.EMPTY)).build();
      }
      default -> throw new UsageException("'" + verb + "' cannot go in a txn: use get, put or del");
    };
  }

  private static ByteString single(String text, String what, String line) {
    var words = Tokenizer.split(text);
    if (words.size() != 1) {
      throw new UsageException("compare '" + line + "' needs exactly one " + what + " (quote it if it has spaces)");
    }
    return ByteString.copyFrom(Tokenizer.bytes(words.get(0)));
  }

  private static long number(ByteString operand, String line) {
    try {
      return Long.parseLong(operand.toStringUtf8());
    } catch (NumberFormatException e) {
      throw new UsageException("compare '" + line + "' needs a whole number, got '" + operand.toStringUtf8() + "'");
    }
  }
}
