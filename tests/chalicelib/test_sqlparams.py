from chalicelib.sqlparams import named_to_pyformat


def test_placeholders_become_pyformat_and_casts_strings_comments_stay():
    sql = ("SELECT :a::numeric, 'it''s :not', \"col:x\", $$ :body $$, x % 2 -- :comment\n"
           " FROM t WHERE y = :b AND z = CAST(:a AS int)")
    out, names = named_to_pyformat(sql)
    assert names == ["a", "b", "a"]
    assert "%(a)s::numeric" in out and "'it''s :not'" in out and '"col:x"' in out
    assert "$$ :body $$" in out and "x %% 2" in out and "-- :comment" in out
    assert "y = %(b)s" in out and "CAST(%(a)s AS int)" in out
