# The style of an arith response (task.styles), the classifier arith_style_of in src/task/task_arith.c:
# a first line "We need ..." (restate), whole lines with an '=' before the line of the first "Answer:" (steps),
# a "\nCheck: " after it (check). "other" when no style has that structure.
def style:
  (.response // "") as $r
  | ($r | split("Answer:")) as $parts
  | if ($parts | length) < 2 then "other" else
      ($r | startswith("We need ")) as $restate
      | ($parts[0] | split("\n") | .[0:-1] | to_entries
         | any(.[]; (.value | contains("=")) and ((.key == 0 and $restate) | not))) as $steps
      | ($parts[1:] | join("Answer:") | contains("\nCheck: ")) as $check
      | {"false false false": "terse", "true false false": "restate", "false true false": "steps",
         "true false true": "check", "true true false": "restate_steps", "true true true": "steps_check"}["\($restate) \($steps) \($check)"] // "other"
    end;
