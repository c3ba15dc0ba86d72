// Lists promises nobody waits for: an expression statement whose value is a promise (a ledger call without
// `await`, an async function called and forgotten). Write `await x`, return it, or say so with `void x.catch(…)`.
// Usage: node scripts/floating-promises.mjs [path-prefix…]   (exit 1 when any are found)
import ts from "typescript";

const prefixes = process.argv.slice(2);
const configPath = ts.findConfigFile(process.cwd(), ts.sys.fileExists, "tsconfig.json");
const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, process.cwd());
const program = ts.createProgram(parsed.fileNames, parsed.options);
const checker = program.getTypeChecker();
const cwd = process.cwd() + "/";
let found = 0;

const isPromise = (type) => {
  if (type.isUnion()) return type.types.some(isPromise);
  const sym = type.getSymbol();
  if (sym && (sym.name === "Promise" || sym.name === "PromiseLike")) return true;
  const then = type.getProperty("then");
  return !!then && !!sym && sym.name !== "__object" && checker.getTypeOfSymbol(then).getCallSignatures().length > 0 && /Promise/.test(checker.typeToString(type));
};

function visit(node, sf) {
  if (ts.isExpressionStatement(node)) {
    let e = node.expression;
    while (ts.isParenthesizedExpression(e)) e = e.expression;
    const handled = ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) &&
      (e.expression.name.text === "catch" || (e.expression.name.text === "then" && e.arguments.length === 2));
    const skip = handled || ts.isVoidExpression(e) || (ts.isBinaryExpression(e) && e.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && e.operatorToken.kind <= ts.SyntaxKind.LastAssignment) || ts.isAwaitExpression(e);
    if (!skip && isPromise(checker.getTypeAtLocation(e))) report(sf, node);
  }
  // A promise returned where a void callback is expected (forEach(async …)) is lost too.
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "forEach") {
    const fn = node.arguments[0];
    if (fn && (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) report(sf, node);
  }
  ts.forEachChild(node, (c) => visit(c, sf));
}

function report(sf, node) {
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  console.log(`${sf.fileName.replace(cwd, "")}:${line + 1}:${character + 1}: ${node.getText(sf).split("\n")[0].slice(0, 120)}`);
  found++;
}

for (const sf of program.getSourceFiles()) {
  if (sf.isDeclarationFile || sf.fileName.includes("/node_modules/")) continue;
  const rel = sf.fileName.replace(cwd, "");
  if (prefixes.length && !prefixes.some((p) => rel.startsWith(p))) continue;
  visit(sf, sf);
}
console.log(`${found} floating promise${found === 1 ? "" : "s"}`);
process.exit(found ? 1 : 0);
