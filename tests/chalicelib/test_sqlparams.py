from chalicelib.sqlparams import compile_named


def test_placeholders_become_positional_and_casts_strings_comments_stay():
    sql = ("SELECT :a::numeric, 'it''s :not', E'x\\' :no', \"col:x\", $$ :body $$, x % 2 -- :comment\n"
           " /* :block /* nested */ */ FROM t WHERE y = :b AND z = CAST(:a AS int)")
    out = compile_named(sql)
    assert out.names == ("a", "b")
    assert "$1::numeric" in out.sql and "'it''s :not'" in out.sql and "E'x\\' :no'" in out.sql
    assert '"col:x"' in out.sql and "$$ :body $$" in out.sql and "x % 2" in out.sql
    assert "-- :comment" in out.sql and "/* :block /* nested */ */" in out.sql
    assert "y = $2" in out.sql and "CAST($1 AS int)" in out.sql
